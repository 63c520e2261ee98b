"""Reference methods for ``zerops eval``: the ground-truth ``oracle`` (ceiling), ``components``, a weight-free
geometric baseline (floor; :mod:`zerops.geometry.components`), and ``superpoints-oracle``, the ceiling of any
merge of the graph preset's superpoints.

``components`` is class-agnostic: semantic and instance outputs are None, so mIoU and mAP50 are reported as null.
"""
from __future__ import annotations

import inspect
from typing import Any

from zerops.config import SuperpointConfig
from zerops.errors import ZeropsError
from zerops.eval.partnete import PartNetEShape
from zerops.eval.prediction import Method, Prediction
from zerops.geometry.components import segment_components


def oracle() -> Method:
    """The ground truth itself: part = instance id, semantic and instance labels copied (scores 100)."""

    def run(shape: PartNetEShape) -> Prediction:
        return Prediction(part=shape.instance.copy(), semantic=shape.semantic.copy(),
                          instance=shape.instance.copy())

    return run


def components(use_color: bool = True, **options: Any) -> Method:
    """The ``components`` baseline: :func:`~zerops.geometry.components.segment_components` with ``options``
    (its keywords and defaults: ``eps_factor``, ``angle_deg``, ``color_dist``, ``min_region`` …); colors are
    ignored with ``use_color=False``. Class-agnostic only."""
    accepted = [p for p in inspect.signature(segment_components).parameters if p not in ("xyz", "rgb")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ZeropsError(f"method 'components' does not accept options {unknown}; it accepts: "
                          f"{', '.join(['use_color', *accepted])}")

    def run(shape: PartNetEShape) -> Prediction:
        rgb = shape.cloud.rgb if use_color else None
        return Prediction(part=segment_components(shape.cloud.xyz, rgb, **options))

    return run


def superpoints_oracle(size_fraction: float = SuperpointConfig.size_fraction,
                       min_size: int = SuperpointConfig.min_size) -> Method:
    """The ceiling of any merge of the default preset's superpoints: each superpoint takes the ground-truth
    instance most of its points carry (reads labels: a measurement, not a method)."""
    from zerops.render.renderer import normalize
    from zerops.stages.superpoints import compute_superpoints, oracle_merge

    def run(shape: PartNetEShape) -> Prediction:
        xyz, _, _ = normalize(shape.cloud.xyz)
        sp = compute_superpoints(xyz, shape.cloud.rgb, SuperpointConfig(size_fraction=size_fraction, min_size=min_size))
        return Prediction(part=oracle_merge(sp.label, shape.instance))

    return run
