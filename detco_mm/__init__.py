"""detco-mm: DetCo (Xie et al., ICCV 2021) as MMSelfSup 1.x components.

Importing the package applies the fixes the pinned stack needs (:mod:`detco_mm.stack_fixes`)
and registers DetCo's components in MMSelfSup's registries, so configs only need
``custom_imports = dict(imports=['detco_mm'], allow_failed_imports=False)``.
"""
from . import stack_fixes  # noqa: F401  (first: later imports rely on the fixes)
from . import datasets, engine, models  # noqa: F401  (register the components)
from .version import __version__

__all__ = ['__version__']
