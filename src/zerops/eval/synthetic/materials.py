"""Plausible materials (wood, metal, plastic, fabric, ...) with per-point texture and mild baked shading, or
flat colors (1-2 plain material colors, no texture, no shading: the look of many real assets)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# base colours (sRGB in [0,1]) per material family; a drawn material jitters one of them
PALETTES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "wood": ((0.55, 0.37, 0.22), (0.70, 0.52, 0.33), (0.40, 0.26, 0.16), (0.82, 0.68, 0.48),
             (0.30, 0.19, 0.12), (0.62, 0.45, 0.30)),
    "metal": ((0.75, 0.76, 0.78), (0.55, 0.56, 0.58), (0.30, 0.31, 0.33), (0.85, 0.80, 0.62),
              (0.62, 0.60, 0.56), (0.18, 0.18, 0.19)),
    "plastic": ((0.92, 0.92, 0.90), (0.12, 0.12, 0.13), (0.80, 0.15, 0.12), (0.15, 0.35, 0.72),
                (0.95, 0.75, 0.10), (0.20, 0.60, 0.30), (0.55, 0.55, 0.57), (0.90, 0.45, 0.60)),
    "fabric": ((0.35, 0.38, 0.45), (0.60, 0.20, 0.18), (0.75, 0.70, 0.62), (0.25, 0.40, 0.30),
               (0.45, 0.45, 0.47), (0.20, 0.22, 0.35), (0.62, 0.52, 0.40)),
    "rubber": ((0.08, 0.08, 0.09), (0.16, 0.16, 0.17), (0.25, 0.24, 0.23)),
    "ceramic": ((0.95, 0.94, 0.90), (0.85, 0.30, 0.20), (0.25, 0.45, 0.65), (0.88, 0.85, 0.75),
                (0.20, 0.20, 0.22)),
    "glass": ((0.05, 0.07, 0.10), (0.10, 0.12, 0.16), (0.60, 0.72, 0.78), (0.16, 0.20, 0.26)),
}
FAMILIES = tuple(PALETTES)
ONE_MATERIAL_SHARE = 0.4  # share of shapes colored with a single material for the whole object
FLAT_SHARE = 1.0 / 3.0    # share of flat-colored shapes in a mixed benchmark (one in three)
FLAT_MIN_DISTANCE = 0.25  # the two colors of a two-color flat shape differ at least this much (RGB distance)

_LIGHT = np.array([0.35, 0.85, 0.40]) / np.linalg.norm([0.35, 0.85, 0.40])
_VIEW = np.array([0.0, 0.3, 1.0]) / np.linalg.norm([0.0, 0.3, 1.0])


@dataclass(frozen=True)
class Material:
    """A base color plus texture settings; ``family`` picks the texture model."""

    family: str
    color: tuple[float, float, float]
    grain_dir: tuple[float, float, float]
    grain_freq: float
    noise: float        # per-point speckle std
    blotch: float       # amplitude of low-frequency variation


def random_material(rng: np.random.Generator, family: str) -> Material:
    """Draw a material of ``family`` (a key of PALETTES) with jittered color and texture parameters."""
    base = np.asarray(PALETTES[family][rng.integers(len(PALETTES[family]))])
    color = np.clip(base * rng.uniform(0.85, 1.15) + rng.normal(0, 0.03, 3), 0.02, 0.98)
    d = np.eye(3)[rng.integers(3)] + rng.normal(0, 0.15, 3)  # grain mostly along a main axis
    d /= np.linalg.norm(d)
    freq = {"wood": rng.uniform(40, 110), "fabric": rng.uniform(150, 300),
            "metal": rng.uniform(80, 200)}.get(family, 0.0)
    noise = {"fabric": 0.05, "wood": 0.03, "rubber": 0.025, "metal": 0.02}.get(family, 0.015) * rng.uniform(0.6, 1.4)
    return Material(family, tuple(float(c) for c in color), tuple(float(c) for c in d), float(freq),
                    float(noise), float(rng.uniform(0.02, 0.07)))


def assign_materials(slots: Mapping[str, Sequence[str]], rng: np.random.Generator) -> tuple[dict[str, Material], bool]:
    """Draw one Material per slot from that slot's allowed families.

    With probability ONE_MATERIAL_SHARE the whole object gets one material (drawn from the first slot's
    families); otherwise each slot draws its own, sometimes reusing an earlier slot's material.
    Returns (slot -> Material, single_material flag).
    """
    names = list(slots)
    single = bool(rng.random() < ONE_MATERIAL_SHARE)
    if single:
        fams = list(slots[names[0]])
        mat = random_material(rng, fams[rng.integers(len(fams))])
        return {s: mat for s in names}, True
    out: dict[str, Material] = {}
    for s in names:
        fams = list(slots[s])
        fam = fams[rng.integers(len(fams))]
        reuse = [m for m in out.values() if m.family == fam]
        out[s] = reuse[rng.integers(len(reuse))] if reuse and rng.random() < 0.3 else random_material(rng, fam)
    return out, False


def colorize(xyz: np.ndarray, normals: np.ndarray, mats: Sequence[Material], mat_index: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """Per-point rgb (N,3) float32 in [0,1]: texture of each point's material plus directional shading.

    xyz, normals: (N,3); mats: the distinct materials; mat_index: (N,) int index into mats.
    """
    n = len(xyz)
    rgb = np.zeros((n, 3))
    for k, m in enumerate(mats):
        sel = mat_index == k
        if not sel.any():
            continue
        p = xyz[sel]
        base = np.broadcast_to(np.asarray(m.color), p.shape).copy()
        f = np.ones(len(p))
        waves = rng.normal(size=(3, 3)) * rng.uniform(2.0, 6.0)
        phase = rng.uniform(0, 2 * np.pi, 3)
        f += m.blotch * np.sin(p @ waves.T + phase).mean(1)
        if m.family in ("wood", "metal", "fabric") and m.grain_freq > 0:
            t = p @ np.asarray(m.grain_dir) * m.grain_freq
            warp = 0.8 * np.sin(p @ rng.normal(size=3) * 9.0)
            amp = {"wood": 0.08, "metal": 0.03, "fabric": 0.05}[m.family]
            f += amp * np.sin(t + warp) * (1.0 + 0.5 * np.sin(0.37 * t))
        f += rng.normal(0.0, m.noise, len(p))
        rgb[sel] = base * f[:, None]
    lam = np.clip(normals @ _LIGHT, 0.0, 1.0)
    shade = 0.68 + 0.38 * lam
    half = (_LIGHT + _VIEW) / np.linalg.norm(_LIGHT + _VIEW)
    spec = np.clip(normals @ half, 0.0, 1.0) ** 12
    gloss = np.array([0.25 if m.family in ("metal", "glass", "ceramic") else
                      0.1 if m.family == "plastic" else 0.0 for m in mats])[mat_index]
    rgb = rgb * shade[:, None] + (gloss * spec)[:, None]
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def flat_colors(slots: Mapping[str, Sequence[str]], rng: np.random.Generator) -> dict[str, tuple[float, float, float]]:
    """Flat colors for the material slots in use: 1 or 2 palette base colors (no jitter, texture or shading).

    One color for the whole object when there is one slot or with probability 1/2; otherwise the first slot
    takes color A, the second slot color B (drawn from its own families, at least FLAT_MIN_DISTANCE from A),
    and every further slot A or B at random. Returns slot -> (r, g, b) in [0, 1].
    """
    names = list(slots)
    fams = list(slots[names[0]])
    palette = PALETTES[fams[rng.integers(len(fams))]]
    first = tuple(float(c) for c in palette[rng.integers(len(palette))])
    if len(names) == 1 or rng.random() < 0.5:
        return {s: first for s in names}
    def far(families: Sequence[str]) -> list:
        return [c for f in families for c in PALETTES[f] if np.linalg.norm(np.subtract(c, first)) >= FLAT_MIN_DISTANCE]

    options = far(slots[names[1]]) or far(FAMILIES)
    second = tuple(float(c) for c in options[rng.integers(len(options))])
    out = {names[0]: first, names[1]: second}
    for s in names[2:]:
        out[s] = first if rng.random() < 0.5 else second
    return out
