"""Text-grounded part detectors behind one protocol.

``get_detector("hf:<id-or-path>")`` (Grounding DINO / MM-Grounding-DINO / OWLv2 / OWL-ViT via transformers),
``get_detector("oracle:glip-like")`` (ground-truth boxes with an error model, for evaluation only) or
``get_detector("pkg.module:Class")``; then ``det.detect(image, part_names) -> Detections``.
"""
from __future__ import annotations

from typing import Any

from zerops.detectors.base import (
    PROMPT_STYLES,
    Detections,
    Detector,
    as_detector,
    build_prompt,
    check_part_names,
    filter_detections,
    object_pixels,
)
from zerops.registry import Registry

#: The detectors by name (lazy: a module is imported when its entry is first used).
DETECTORS = Registry("detector", {"hf": "zerops.detectors.hf:HFDetector",
                                  "oracle": "zerops.detectors.oracle:OracleDetector"},
                     args={"hf": ("model id or folder", True), "oracle": ("perfect|glip-like", False)},
                     check=as_detector)


def get_detector(spec: str, device: str = "cpu", **options: Any) -> Detector:
    """Build a detector from a spec string.

    ``hf:<hub id or local folder>`` (Grounding DINO, MM-Grounding-DINO, OWLv2, OWL-ViT via transformers),
    ``oracle[:perfect|glip-like]`` (ground-truth boxes with an error model; evaluation only),
    ``package.module:ClassName`` (a plug-in class taking ``device=`` and keyword options and implementing
    ``detect(image, part_names, category=None) -> Detections``).
    """
    return DETECTORS.create(spec, device=device, **options)


def available_detectors() -> list[str]:
    """The accepted detector spellings."""
    return DETECTORS.available()


def register_detector(name: str, factory: Any) -> None:
    """Add a detector ``factory(**options)`` / ``factory(arg, **options)`` (or ``"module:attribute"``)."""
    DETECTORS.register(name, factory)


__all__ = ["DETECTORS", "PROMPT_STYLES", "Detections", "Detector", "as_detector", "available_detectors",
           "build_prompt", "check_part_names", "filter_detections", "get_detector", "object_pixels",
           "register_detector"]
