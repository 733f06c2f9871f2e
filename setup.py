"""detco-mm: DetCo (ICCV 2021) for the OpenMMLab stack (MMSelfSup 1.0.0 / MMEngine)."""
import os.path as osp
import re
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_version() -> str:
    with open(osp.join(HERE, 'detco_mm', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def read_requirements(name: str) -> list:
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name='detco_mm',
    version=read_version(),
    description='DetCo: Unsupervised Contrastive Learning for Object Detection, '
    'for MMSelfSup 1.x / MMDetection 3.x',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    python_requires='>=3.11,<3.13',
    packages=find_packages(include=['detco_mm', 'detco_mm.*']),
    # torch, torchvision and mmcv (compiled from its sdist) come from tools/install.sh.
    install_requires=read_requirements('runtime'),
    extras_require=dict(tests=read_requirements('tests')),
    zip_safe=False,
)
