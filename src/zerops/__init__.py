"""zerops: zero-shot 3D part segmentation (ZeroPS, arXiv 2311.14262) on CPU or GPU."""
from zerops.errors import ZeropsError

__version__ = "0.1.0"
__all__ = ["ZeropsError", "__version__"]
