"""Images of a result folder for notebooks: functions return images and never open windows.

    from zerops.viz.notebook import show_views, part_figure
    show_views("out/chair")                 # PIL image of views.png (labels.png with which="labels")
    part_figure("out/chair", azim=120)      # (H, W, 3) uint8 render of the points colored by part
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.palette import part_colors
from zerops.io.resultdir import ResultDir, load_result


def _result(result_dir: str | os.PathLike | ResultDir) -> ResultDir:
    return result_dir if isinstance(result_dir, ResultDir) else load_result(result_dir)


def show_views(result_dir: str | os.PathLike | ResultDir, which: str = "views") -> Any:
    """The result's contact sheet as a ``PIL.Image.Image``: ``views.png`` (parts colored) or, with
    ``which="labels"``, ``labels.png`` (classes colored, detector boxes). Without the image (a result written
    without views) it falls back to :func:`part_figure`."""
    from PIL import Image

    if which not in ("views", "labels"):
        raise ZeropsError(f"which must be 'views' or 'labels', got {which!r}")
    result = _result(result_dir)
    path = result.path / f"{which}.png"
    if not path.is_file():
        if which == "labels" and not result.named:
            raise ZeropsError(f"{result.path}: no labels.png (the parts were not named)")
        return Image.fromarray(part_figure(result, by="semantic" if which == "labels" else "part"))
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except OSError as exc:
        raise ZeropsError(f"{path}: cannot read the image ({exc})") from None


def part_figure(result_dir: str | os.PathLike | ResultDir, elev: float = 30.0, azim: float = 45.0,
                size: int = 512, by: str = "part", point_size: int | None = None,
                background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """(size, size, 3) uint8 orthographic render of the points colored by ``by`` (part colors as everywhere in
    zerops, unassigned gray), seen from ``elev``/``azim`` degrees (zerops's views: +Y up, azim 0 looks along
    −Z). Nearer points hide farther ones (z-buffer) and are drawn slightly brighter."""
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ZeropsError(f"size must be an integer >= 16, got {size!r}")
    result = _result(result_dir)
    labels = result.labels(by)
    colors = part_colors(labels).astype(np.float64)
    xyz = result.xyz.astype(np.float64)
    center = (xyz.min(axis=0) + xyz.max(axis=0)) / 2.0
    xyz = xyz - center
    radius = float(np.linalg.norm(xyz, axis=1).max()) or 1.0
    e, a = np.radians(elev), np.radians(azim)
    right = np.array([np.cos(a), 0.0, -np.sin(a)])
    up = np.array([-np.sin(e) * np.sin(a), np.cos(e), -np.sin(e) * np.cos(a)])
    toward = np.array([np.cos(e) * np.sin(a), np.sin(e), np.cos(e) * np.cos(a)])
    scale = 0.46 * size / radius
    sx = np.round(size / 2 + xyz @ right * scale).astype(np.int64)
    sy = np.round(size / 2 - xyz @ up * scale).astype(np.int64)
    depth = xyz @ toward / radius
    if point_size is None:
        point_size = int(np.clip(round(size / np.sqrt(max(len(xyz), 1)) * 0.9), 1, 6))
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = np.asarray(background, dtype=np.uint8)
    zbuf = np.full(size * size, -np.inf)
    owner = np.full(size * size, -1, dtype=np.int64)
    half = point_size // 2
    order = np.argsort(depth)                        # far to near: later (nearer) writes win per pixel
    for dy in range(point_size):
        for dx in range(point_size):
            px, py = sx[order] + dx - half, sy[order] + dy - half
            ok = (px >= 0) & (px < size) & (py >= 0) & (py < size)
            flat = py[ok] * size + px[ok]
            d = depth[order][ok]
            idx = order[ok]
            better = d > zbuf[flat]
            flat, d, idx = flat[better], d[better], idx[better]
            zbuf[flat] = d                           # duplicates: the last (nearest) assignment wins
            owner[flat] = idx
    hit = owner >= 0
    shade = 0.62 + 0.38 * (np.clip(zbuf[hit], -1.0, 1.0) + 1.0) / 2.0
    flat_img = image.reshape(-1, 3)
    flat_img[hit] = np.clip(colors[owner[hit]] * shade[:, None], 0, 255).astype(np.uint8)
    return image


__all__ = ["show_views", "part_figure"]
