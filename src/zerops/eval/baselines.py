"""Reference methods for ``zerops eval``: the ground-truth ``oracle`` (ceiling), ``components``, a weight-free
geometric baseline (floor; :mod:`zerops.geometry.components`), and ``superpoints-oracle``, the ceiling of any
merge of the graph preset's superpoints.

``components`` is class-agnostic: semantic and instance outputs are None, so mIoU and mAP50 are reported as null.
"""
from __future__ import annotations

from zerops.eval.partnete import PartNetEShape
from zerops.eval.prediction import Method, Prediction
from zerops.geometry.components import segment_components


def oracle() -> Method:
    """The ground truth itself: part = instance id, semantic and instance labels copied (scores 100)."""

    def run(shape: PartNetEShape) -> Prediction:
        return Prediction(part=shape.instance.copy(), semantic=shape.semantic.copy(),
                          instance=shape.instance.copy())

    return run


def components(
    eps_factor: float = 3.0,
    min_points: int = 3,
    angle_deg: float | None = 20.0,
    color_dist: float | None = 0.15,
    max_variation: float | None = None,
    k: int = 10,
    min_region: float = 0.01,
    use_color: bool = True,
) -> Method:
    """The ``components`` baseline (see :func:`segment_components`); class-agnostic only."""

    def run(shape: PartNetEShape) -> Prediction:
        rgb = shape.cloud.rgb if use_color else None
        part = segment_components(shape.cloud.xyz, rgb, eps_factor=eps_factor, min_points=min_points,
                                  angle_deg=angle_deg, color_dist=color_dist, max_variation=max_variation, k=k,
                                  min_region=min_region)
        return Prediction(part=part)

    return run


def superpoints_oracle(size_fraction: float = 0.003, min_size: int = 12) -> Method:
    """The ceiling of any merge of the default preset's superpoints: each superpoint takes the ground-truth
    instance most of its points carry (reads labels: a measurement, not a method)."""
    from zerops.render.renderer import normalize
    from zerops.stages.superpoints import compute_superpoints, oracle_merge

    def run(shape: PartNetEShape) -> Prediction:
        xyz, _, _ = normalize(shape.cloud.xyz)
        sp = compute_superpoints(xyz, shape.cloud.rgb, size_fraction=size_fraction, min_size=min_size)
        return Prediction(part=oracle_merge(sp.label, shape.instance))

    return run
