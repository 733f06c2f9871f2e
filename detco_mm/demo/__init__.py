"""The embedded demo data (``make demo``, ``tools/demo.py``): nothing downloaded at run time.

- :mod:`.photos`: the real photographs bundled inside scikit-image's wheel;
- :mod:`.crops`: random crops of them in MMSelfSup's ImageNet layout, for pre-training;
- :mod:`.scenes`: detection scenes (shapes of known class and box on photo backgrounds) in
  MMDetection's COCO layout, for fine-tuning and evaluation;
- :mod:`.cache`: the build-once, verify-always cache both are kept in;
- :mod:`.data`: the two data sets of the demo, with their sizes, prepared through the cache.
"""
from .cache import DemoDataError, build_cached
from .data import DemoDataSpec, prepare_demo_data

__all__ = ['DemoDataError', 'build_cached', 'DemoDataSpec', 'prepare_demo_data']
