"""Promptable segmenters (Segment Anything family) behind one protocol.

``get_segmenter("embedded")`` (MobileSAM on onnxruntime, the default), ``get_segmenter("hf:<id-or-path>")``
(transformers SamModel / SamHQModel / Sam2Model) or ``get_segmenter("pkg.module:Class")``; then
``seg.set_images(views)`` and ``masks, scores = seg.predict(view, prompt_sets)``.
"""
from __future__ import annotations

from typing import Any

from zerops.registry import Registry
from zerops.segmenters.base import (
    PromptSet,
    Segmenter,
    as_prompt_sets,
    check_segmenter,
    decode_at_with_stability,
    decode_with_stability,
    select_masks,
)

#: The segmenters by name (lazy: a module is imported when its entry is first used).
SEGMENTERS = Registry("segmenter", {"embedded": "zerops.segmenters.embedded:EmbeddedSam",
                                    "hf": "zerops.segmenters.hf:HFSam",
                                    "oracle": "zerops.segmenters.choice:oracle_segmenter"},
                      args={"hf": ("model id or folder", True), "oracle": ("perfect|noisy-P|choice[-rule]", False)},
                      check=check_segmenter)


def get_segmenter(spec: str = "embedded", device: str = "cpu", **options: Any) -> Segmenter:
    """Build a segmenter from a spec string.

    ``embedded`` (default, MobileSAM on onnxruntime), ``hf:<hub id or local folder>`` (transformers
    SamModel / SamHQModel / Sam2Model), ``oracle:perfect|noisy-P`` (ground-truth masks, evaluation only:
    ``zerops eval`` gives it each shape's ground truth), ``oracle:choice`` (the embedded SAM's candidates, the
    one closest to the ground-truth part marked confident: the target of a candidate choice made from the
    evidence; ``oracle:choice-small|middle|large|score`` fixed rules), ``package.module:ClassName`` (a plug-in
    class taking ``device=`` and keyword options and implementing ``set_images`` / ``predict``).
    """
    return SEGMENTERS.create(spec, device=device, **options)


def available_segmenters() -> list[str]:
    """The accepted segmenter spellings."""
    return SEGMENTERS.available()


def register_segmenter(name: str, factory: Any) -> None:
    """Add a segmenter ``factory(**options)`` / ``factory(arg, **options)`` (or ``"module:attribute"``)."""
    SEGMENTERS.register(name, factory)


__all__ = ["SEGMENTERS", "PromptSet", "Segmenter", "as_prompt_sets", "available_segmenters",
           "decode_at_with_stability", "decode_with_stability", "get_segmenter", "register_segmenter", "select_masks"]
