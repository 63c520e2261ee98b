"""Images for people: contact sheets of rendered views and atomic PNG writing."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from zerops.errors import ZeropsError


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Accept (H, W), (H, W, 3) or (H, W, 4) uint8, bool, or float in [0, 1]; return (H, W, 3) uint8."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ZeropsError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    arr = arr[:, :, :3]
    if arr.dtype == np.bool_:
        return np.where(arr, 255, 0).astype(np.uint8)
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise ZeropsError("image contains NaN or inf values")
        arr = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(arr)


def contact_sheet(
    images: Sequence[np.ndarray],
    labels: Sequence[str] | None = None,
    cols: int = 5,
    thumb: int = 256,
    gap: int = 4,
    legend: Sequence[tuple[str, Sequence[int]]] | None = None,
) -> np.ndarray:
    """Grid of thumbnails on a white background, with an optional legend strip below.

    Args:
        images: images of any size (see :func:`save_png` for accepted dtypes); each is scaled to fit a
            ``thumb`` x ``thumb`` cell, keeping its aspect ratio.
        labels: optional text per image, drawn small in the cell's top-left corner.
        cols: images per row. thumb: cell size in pixels. gap: white pixels between cells.
        legend: (name, RGB color) entries drawn as swatches under the grid.

    Returns:
        (rows * (thumb + gap) + gap [+ legend rows], cols' * (thumb + gap) + gap, 3) uint8 sheet,
        cols' = min(cols, len(images)).
    """
    if len(images) == 0:
        raise ZeropsError("contact_sheet needs at least one image")
    if cols < 1 or thumb < 8 or gap < 0:
        raise ZeropsError(f"contact_sheet needs cols >= 1, thumb >= 8 and gap >= 0 (got {cols}, {thumb}, {gap})")
    if labels is not None and len(labels) != len(images):
        raise ZeropsError(f"got {len(labels)} labels for {len(images)} images")
    ncol = min(cols, len(images))
    nrow = -(-len(images) // ncol)
    sheet = Image.new("RGB", (ncol * (thumb + gap) + gap, nrow * (thumb + gap) + gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, img in enumerate(images):
        tile = Image.fromarray(_as_rgb_uint8(img))
        scale = thumb / max(tile.width, tile.height)
        size = (max(1, round(tile.width * scale)), max(1, round(tile.height * scale)))
        tile = tile.resize(size, Image.Resampling.BILINEAR)
        r, c = divmod(i, ncol)
        x0 = gap + c * (thumb + gap) + (thumb - size[0]) // 2
        y0 = gap + r * (thumb + gap) + (thumb - size[1]) // 2
        sheet.paste(tile, (x0, y0))
        if labels is not None and labels[i]:
            tx, ty = gap + c * (thumb + gap) + 3, gap + r * (thumb + gap) + 2
            box = draw.textbbox((tx, ty), str(labels[i]), font=font)
            draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(255, 255, 255))
            draw.text((tx, ty), str(labels[i]), fill=(0, 0, 0), font=font)
    if legend:
        sheet = _add_legend(sheet, legend, font, gap)
    return np.asarray(sheet, dtype=np.uint8)


def _add_legend(sheet: "Image.Image", legend: Sequence[tuple[str, Sequence[int]]], font, gap: int) -> "Image.Image":
    """Swatch + name entries, wrapped into rows under the sheet."""
    draw = ImageDraw.Draw(sheet)
    widths = [14 + draw.textbbox((0, 0), str(name), font=font)[2] + 12 for name, _ in legend]
    rows, x = 1, gap
    for w in widths:
        if x + w > sheet.width and x > gap:
            rows, x = rows + 1, gap
        x += w
    out = Image.new("RGB", (sheet.width, sheet.height + rows * 16 + gap), (255, 255, 255))
    out.paste(sheet, (0, 0))
    draw = ImageDraw.Draw(out)
    x, y = gap, sheet.height
    for (name, color), w in zip(legend, widths):
        if x + w > out.width and x > gap:
            x, y = gap, y + 16
        draw.rectangle((x, y + 2, x + 10, y + 12), fill=tuple(int(c) for c in color), outline=(0, 0, 0))
        draw.text((x + 14, y + 1), str(name), fill=(0, 0, 0), font=font)
        x += w
    return out


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write ``image`` as a PNG atomically (temp file in the same folder, then ``os.replace``).

    Accepts (H, W) / (H, W, 3) / (H, W, 4) arrays: uint8, bool, or float in [0, 1].
    """
    target = Path(path)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 4 and arr.dtype == np.uint8:
        pil = Image.fromarray(np.ascontiguousarray(arr))  # RGBA
    elif arr.ndim == 2 and arr.dtype == np.uint8:
        pil = Image.fromarray(np.ascontiguousarray(arr))  # grayscale
    else:
        pil = Image.fromarray(_as_rgb_uint8(arr))
    if not target.parent.exists():
        raise ZeropsError(f"cannot write {target}: folder {target.parent} does not exist")
    from zerops.io.files import atomic_path

    with atomic_path(target) as tmp:            # created with the umask's mode, like every other output
        with open(tmp, "xb") as fh:
            pil.save(fh, format="PNG")


def part_overlay(view, labels: np.ndarray, shading: float = 0.35) -> np.ndarray:
    """A rendered view with every object pixel colored by the label of its front-most point.

    Args:
        view: a :class:`zerops.render.renderer.RenderedView` (uses ``index_map`` (H, W) and ``image`` (H, W, 3)).
        labels: (N,) int per-point labels; −1 (unassigned) is drawn gray.
        shading: share of the render's own brightness mixed in so the geometry stays readable.
    Returns:
        (H, W, 3) uint8 image, white background.
    """
    from zerops.io.palette import part_colors

    index_map = view.index_map
    out = np.full(index_map.shape + (3,), 255, dtype=np.uint8)
    fg = index_map >= 0
    if not fg.any():
        return out
    colors = part_colors(np.asarray(labels, dtype=np.int64)[index_map[fg]]).astype(np.float32)
    lum = view.image[fg].astype(np.float32).mean(axis=1, keepdims=True) / 255.0
    mixed = colors * ((1.0 - shading) + shading * lum)
    out[fg] = np.clip(mixed, 0, 255).astype(np.uint8)
    return out


def label_overlay(view, semantic: np.ndarray, part_names: Sequence[str], detections=None,
                  voted: Sequence[bool] | None = None, shading: float = 0.35) -> np.ndarray:
    """A view colored by semantic class (gray: unlabeled) with the detector's boxes and their names drawn
    in the class color. ``semantic`` (N,) int class per point; ``detections``: that view's ``Detections``;
    ``voted`` (K,): whether each box passed the two-dimensional check (thick outline) or not (thin, and
    its tag ends in "x")."""
    from PIL import Image, ImageDraw

    from zerops.io.palette import part_palette

    img = part_overlay(view, semantic, shading=shading)
    if detections is None or len(detections) == 0:
        return img
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    palette = part_palette(max(len(part_names), 1))
    voted = [True] * len(detections) if voted is None else list(voted)
    for box, label, score, ok in zip(detections.boxes, detections.labels, detections.scores, voted):
        color = tuple(int(c) for c in palette[int(label) % len(palette)])
        x0, y0, x1, y1 = (float(v) for v in box)
        draw.rectangle([x0, y0, max(x1 - 1, x0), max(y1 - 1, y0)], outline=color, width=3 if ok else 1)
        text = f"{part_names[int(label)]} {float(score):.2f}" + ("" if ok else " x")
        ty = y0 - 11 if y0 >= 11 else y0 + 1
        draw.rectangle([x0, ty, x0 + 6 * len(text) + 2, ty + 10], fill=color)
        draw.text((x0 + 1, ty - 1), text, fill=(255, 255, 255))
    return np.asarray(pil)
