"""Text-grounded part detectors behind one protocol.

``get_detector("hf:<id-or-path>")`` (Grounding DINO / MM-Grounding-DINO / OWLv2 / OWL-ViT via transformers),
``get_detector("oracle:glip-like")`` (ground-truth boxes with an error model, for evaluation only) or
``get_detector("pkg.module:Class")``; then ``det.detect(image, part_names) -> Detections``.
"""
from zerops.detectors.base import (PROMPT_STYLES, Detections, Detector, as_detector, available_detectors, build_prompt,
                                   check_part_names, filter_detections, get_detector, object_pixels,
                                   register_detector)


def _oracle(preset=None, device: str = "cpu", **options):
    from zerops.detectors.oracle import OracleDetector
    return OracleDetector(preset, device=device, **options)


register_detector("oracle", _oracle)

__all__ = ["PROMPT_STYLES", "Detections", "Detector", "as_detector", "available_detectors", "build_prompt",
           "check_part_names", "filter_detections", "get_detector", "object_pixels", "register_detector"]
