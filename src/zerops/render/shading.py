"""Colors of the splatted points in one view: flat point colors, gray Lambert shading of uncolored clouds, or
point color × (ambient + Lambert) (``render.shading = "lambert"``, the graph preset's default)."""
from __future__ import annotations

import numpy as np

from zerops.config import RenderConfig

SHADINGS = ("none", "lambert")       # colored clouds: flat colors, or color × (ambient + Lambert)


def shade(pts: np.ndarray, normals: np.ndarray | None, rot: np.ndarray, position: np.ndarray, config: RenderConfig,
          albedo: np.ndarray | None = None) -> np.ndarray:
    """Lambert shading for one view: (N, 3) uint8; gray (``config.albedo``), or ``albedo`` ((N, 3) uint8 point
    colors) × (ambient + Lambert). ``rot``, ``position``: the camera frame; ``normals`` (N, 3) or None."""
    gray, ambient, offset = config.albedo, config.ambient, config.light_offset
    if normals is None:
        if albedo is not None:
            return albedo
        return np.full((len(pts), 3), round(255 * gray), dtype=np.uint8)
    light = -rot[2] + offset[0] * rot[0] + offset[1] * rot[1]
    light = (light / np.linalg.norm(light)).astype(np.float32)
    to_cam = position.astype(np.float32) - pts
    facing = np.einsum("ij,ij->i", normals, to_cam)
    lam = normals @ light
    lam = np.where(facing < 0, -lam, lam)
    if albedo is not None:
        light_level = ambient + (1.0 - ambient) * np.clip(lam, 0.0, 1.0)
        return np.round(albedo.astype(np.float32) * light_level[:, None]).astype(np.uint8)
    value = 255.0 * gray * (ambient + (1.0 - ambient) * np.clip(lam, 0.0, 1.0))
    gray = np.round(value).astype(np.uint8)
    return np.repeat(gray[:, None], 3, axis=1)
