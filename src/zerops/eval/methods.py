"""The evaluation methods by name: one :class:`~zerops.registry.Registry` with lazy entries.

A *method* is a callable ``PartNetEShape -> Prediction`` made by a factory ``factory(**options)``. Built in:
``components`` and ``oracle`` (:mod:`zerops.eval.baselines`), ``superpoints-oracle``, and the pipeline as
``zerops``, ``cut-oracle`` and ``labeling`` (:mod:`zerops.eval.pipeline_methods`). ``package.module:function``
names a plug-in factory.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from zerops.errors import ZeropsError
from zerops.eval.prediction import Method
from zerops.registry import Registry

MethodFactory = Callable[..., Method]

#: The evaluation methods by name (a module is imported when its entry is first used).
METHODS = Registry("method", {
    "components": "zerops.eval.baselines:components",
    "oracle": "zerops.eval.baselines:oracle",
    "superpoints-oracle": "zerops.eval.baselines:superpoints_oracle",
    "zerops": "zerops.eval.pipeline_methods:zerops_method",
    "cut-oracle": "zerops.eval.pipeline_methods:cut_oracle_method",
    "labeling": "zerops.eval.pipeline_methods:labeling_method",
}, plugin_hint="<module>:<factory>")


def register_method(name: str, factory: MethodFactory) -> None:
    """Register ``factory(**options) -> method`` under ``name`` (re-registering replaces it)."""
    if not name or not isinstance(name, str):
        raise ZeropsError(f"a method name must be a non-empty string, got {name!r}")
    METHODS.register(name, factory)


def available_methods() -> list[str]:
    """Names of all registered methods, sorted."""
    return METHODS.names()


def get_method(name: str, **options: Any) -> Method:
    """Build the method ``name`` (or a plug-in factory ``package.module:function``) with ``options``
    (ZeropsError for unknown names/options)."""
    if not isinstance(name, str) or (name not in METHODS and ":" not in name):
        raise ZeropsError(f"unknown method '{name}'; available: {', '.join(METHODS.names())}")
    factory, args, _ = METHODS.resolve(name)
    not_a_factory = (f"--method {name}: '{name}' is not a method factory (a function returning a callable "
                     "shape -> prediction)")
    if not callable(factory):
        raise ZeropsError(f"{not_a_factory}; it is a {type(factory).__name__}")
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        raise ZeropsError(f"{not_a_factory}; its signature cannot be read") from None
    try:
        signature.bind(*args, **options)
    except TypeError:
        params = [p for p in signature.parameters if not p.startswith("_")]
        raise ZeropsError(
            f"method '{name}' does not accept options {sorted(options)}; it accepts: {', '.join(params) or 'none'}"
        ) from None
    method = factory(*args, **options)
    if not callable(method):
        raise ZeropsError(f"{not_a_factory}; it returned a {type(method).__name__}")
    return method
