"""zerops: zero-shot 3D part segmentation (ZeroPS, arXiv 2311.14262) on CPU or GPU.

``from zerops import ZeroPS, preset`` then ``ZeroPS(preset("graph")).segment("chair.ply")``.
"""
from zerops.errors import ZeropsError
from zerops.version import __version__

__all__ = ["ZeropsError", "__version__", "ZeroPS", "PartResult", "preset", "ZeroPSConfig", "load_cloud"]

_LAZY = {"ZeroPS": "zerops.pipeline", "PartResult": "zerops.result", "preset": "zerops.config",
         "ZeroPSConfig": "zerops.config", "load_cloud": "zerops.io.load"}


def __getattr__(name: str):
    # heavy modules (onnxruntime, scipy) load on first use, so `import zerops` stays fast
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zerops' has no attribute {name!r}")
