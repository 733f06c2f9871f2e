"""Install-time helpers of detco-mm (stdlib only, importable before anything is installed).

:mod:`detco_mm.install.mmcv_wheels` decides which mmcv ops variant an environment needs (CPU
ops, or CUDA ops for a CUDA version and a set of GPU architectures), keys the wheel cache by
it and classifies ready wheels by inspecting their compiled extension. ``tools/install.sh``
runs it as a script (``python detco_mm/install/mmcv_wheels.py ...``), so this package must not
import anything outside the standard library.
"""
