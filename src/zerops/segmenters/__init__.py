"""Promptable segmenters (Segment Anything family) behind one protocol.

``get_segmenter("embedded")`` (MobileSAM on onnxruntime, the default), ``get_segmenter("hf:<id-or-path>")``
(transformers SamModel / SamHQModel / Sam2Model) or ``get_segmenter("pkg.module:Class")``; then
``seg.set_images(views)`` and ``masks, scores = seg.predict(view, prompt_sets)``.
"""
from zerops.segmenters.base import (PromptSet, Segmenter, as_prompt_sets, available_segmenters, get_segmenter,
                                    register_segmenter, select_masks)


def _embedded(device: str = "cpu", **options):
    from zerops.segmenters.embedded import EmbeddedSam
    return EmbeddedSam(device=device, **options)


register_segmenter("embedded", _embedded)

__all__ = ["PromptSet", "Segmenter", "as_prompt_sets", "available_segmenters", "get_segmenter",
           "register_segmenter", "select_masks"]
