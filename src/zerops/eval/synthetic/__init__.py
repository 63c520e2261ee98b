"""Procedural part-labelled benchmark in PartNetE layout (``zerops synth``).

Objects are unions of primitive solids with random proportions, counts and placements, labelled with
PartNetE's own category and part names. Points are sampled area-uniformly on the visible surface of the union
and colored with plausible materials, texture noise and a fixed directional light (``shading="baked"``) or
with 1-2 flat material colors and no texture or light (``shading="flat"``); a benchmark made with
``shading="mixed"`` (the default) has one flat shape in three.
"""
from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zerops.errors import ZeropsError
from zerops.eval.synthetic.assembly import Assembly
from zerops.eval.synthetic.cabinets import door, refrigerator, storage_furniture
from zerops.eval.synthetic.containers import bottle, box_category, bucket, kettle, kitchen_pot, trash_can
from zerops.eval.synthetic.devices import clock, display, eyeglasses, laptop, suitcase
from zerops.eval.synthetic.furniture import cart, chair, table
from zerops.eval.synthetic.materials import assign_materials, colorize, flat_colors
from zerops.eval.synthetic.sampling import sample_surface
from zerops.eval.synthetic.small import faucet, lamp, scissors

GENERATOR_VERSION = "2"

_BUILDERS: dict[str, Callable[[np.random.Generator, list[str]], Assembly]] = {
    "Bottle": bottle, "Box": box_category, "Bucket": bucket, "Cart": cart, "Chair": chair, "Clock": clock,
    "Display": display, "Door": door, "Eyeglasses": eyeglasses, "Faucet": faucet, "Kettle": kettle,
    "KitchenPot": kitchen_pot, "Lamp": lamp, "Laptop": laptop, "Refrigerator": refrigerator,
    "Scissors": scissors, "StorageFurniture": storage_furniture, "Suitcase": suitcase, "Table": table,
    "TrashCan": trash_can,
}
CATEGORIES: tuple[str, ...] = tuple(sorted(_BUILDERS))
SHADINGS = ("baked", "flat")


@dataclass
class SynthShape:
    """One generated shape. xyz (N,3) float32, rgb (N,3) float32 in [0,1], semantic/instance (N,) int64
    (-1 = not in a listed part), part_names = PartNetE's list for ``category``."""

    xyz: np.ndarray
    rgb: np.ndarray
    semantic: np.ndarray
    instance: np.ndarray
    part_names: list[str]
    category: str
    meta: dict = field(default_factory=dict)


def _part_table() -> dict[str, list[str]]:
    from zerops.partnames import load_partnete_meta
    return load_partnete_meta()


def _check_category(category: str) -> None:
    if category not in _BUILDERS:
        raise ZeropsError(f"unknown synthetic category {category!r}; available: {', '.join(CATEGORIES)}")


def _rngs(category: str, seed: int) -> list[np.random.Generator]:
    """Independent generators for geometry, sampling, materials and texture noise (stable across runs)."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(category.encode("utf-8"))])
    return [np.random.default_rng(s) for s in ss.spawn(4)]


def build_assembly(category: str, seed: int) -> Assembly:
    """The labelled primitives of shape ``seed`` of ``category`` (what generate_shape samples)."""
    _check_category(category)
    return _BUILDERS[category](_rngs(category, seed)[0], list(_part_table()[category]))


def generate_shape(category: str, seed: int, n_points: int = 10000, shading: str = "baked") -> SynthShape:
    """Generate one shape of ``category`` (a name in CATEGORIES); the same (category, seed) gives identical arrays.

    shading: "baked" (textured materials with a fixed light) or "flat" (1-2 plain colors, see
    :func:`zerops.eval.synthetic.materials.flat_colors`). Geometry and labels do not depend on it.
    """
    _check_category(category)
    from zerops.limits import check_points

    n_points = check_points(n_points, "n_points (--points)")
    if shading not in SHADINGS:
        raise ZeropsError(f"unknown shading {shading!r}; use baked or flat")
    geo, samp, mat, tex = _rngs(category, seed)
    names = list(_part_table()[category])
    asm = _BUILDERS[category](geo, names)
    xyz, normals, owner = sample_surface(asm.prims, int(n_points), samp)
    if shading == "flat":
        used = {s: f for s, f in asm.slots.items() if any(p.material == s for p in asm.prims)}
        slot_rgb = flat_colors(used, mat)
        rgb = np.array([slot_rgb[p.material] for p in asm.prims], dtype=np.float32)[owner]
        single = len(set(slot_rgb.values())) == 1
    else:
        slot_mats, single = assign_materials(asm.slots, mat)
        mats = list(dict.fromkeys(slot_mats.values()))
        prim_mat = np.array([mats.index(slot_mats[p.material]) for p in asm.prims], dtype=np.int64)
        rgb = colorize(xyz, normals, mats, prim_mat[owner], tex)
    semantic = np.array([p.semantic for p in asm.prims], dtype=np.int64)[owner]
    instance = np.array([p.instance for p in asm.prims], dtype=np.int64)[owner]
    valid = instance >= 0  # renumber instances 0..K-1 (creation order); wholly hidden parts vanish
    instance[valid] = np.searchsorted(np.unique(instance[valid]), instance[valid])
    xyz = xyz - 0.5 * (xyz.min(0) + xyz.max(0))
    meta = {"category": category, "part_names": names, "seed": int(seed), "generator_version": GENERATOR_VERSION,
            "n_points": int(n_points), "source": "zerops.eval.synthetic", "single_material": single, "shading": shading}
    return SynthShape(xyz.astype(np.float32), rgb, semantic, instance, names, category, meta)


def shape_seed(seed: int, category: str, index: int) -> int:
    """The per-shape seed of shape ``index`` of ``category`` in a benchmark made with ``seed`` (stable, < 2**31)."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(category.encode("utf-8")), int(index)])
    return int(ss.generate_state(1)[0] & 0x7FFFFFFF)


def shape_shading(seed: int, category: str, index: int, shading: str = "mixed") -> str:
    """baked or flat for shape ``index`` of ``category``; "mixed" makes every third shape of a category flat
    (index i is flat when (i + o) % 3 == 0, with an offset o drawn from the benchmark seed and the category)."""
    if shading != "mixed":
        return shading
    offset = zlib.crc32(f"{int(seed)}:{category}:shading".encode("utf-8")) % 3
    return "flat" if (int(index) + offset) % 3 == 0 else "baked"


def _check_synth_folder(folder: Path) -> None:
    """A shape folder synth may (re)write: missing, empty, or provably synth's own: nothing but pc.ply,
    label.npy and a meta.json naming the generator and benchmark seed (meta.json is written first)."""
    from zerops.io.files import load_json
    from zerops.io.outdir import foreign_entries

    for link in (folder.parent, folder):
        if link.is_symlink() or (link.exists() and not link.is_dir()):
            raise ZeropsError(f"{link} is {'a symbolic link' if link.is_symlink() else 'a file'}; synth writes "
                              "only into folders of its own: nothing written, choose another output folder")
    if not folder.exists() or not any(folder.iterdir()):
        return
    foreign = foreign_entries(folder, ("pc.ply", "label.npy", "meta.json"))
    meta: object = None
    if not foreign:
        try:
            meta = load_json(folder / "meta.json", max_bytes=1 << 20)
        except (OSError, ValueError):
            meta = None
    if foreign or not (isinstance(meta, dict) and {"generator_version", "benchmark_seed"} <= set(meta)):
        what = ", ".join(foreign[:3]) if foreign else "no meta.json of synth's"
        raise ZeropsError(f"{folder} holds a shape synth did not write ({what}); nothing written: synth adds to "
                          "a folder but never replaces your files; choose another output folder")


def write_benchmark(out_dir: str | os.PathLike, per_category: int, seed: int,
                    categories: Sequence[str] | None = None, n_points: int = 10000,
                    progress: bool = True, shading: str = "mixed") -> list[Path]:
    """Write ``per_category`` shapes per category to ``<out_dir>/<Category>/<id>/{pc.ply,label.npy,meta.json}``.

    shading: baked, flat, or mixed (one shape in three flat, see :func:`shape_shading`). Returns the shape
    folders in writing order. Same arguments -> byte-identical files.
    """
    from zerops.eval.partnete import write_partnete_shape

    if shading not in SHADINGS + ("mixed",):
        raise ZeropsError(f"unknown shading {shading!r}; use mixed, baked or flat")
    cats = list(CATEGORIES) if categories is None else [str(c).strip() for c in categories]
    for c in cats:
        _check_category(c)
    if int(per_category) < 1:
        raise ZeropsError(f"per_category must be a positive integer, got {per_category}")
    from zerops.limits import check_points

    check_points(n_points, "n_points (--points)")           # before the first shape, not in it
    jobs = [(c, i) for c in cats for i in range(int(per_category))]
    out = Path(out_dir)
    for c, i in jobs:                                        # before the first shape: no user file touched
        _check_synth_folder(out / c / f"{i:04d}")
    folders: list[Path] = []
    from tqdm import tqdm
    for c, i in tqdm(jobs, desc="synth", unit="shape", disable=not progress):
        s = shape_seed(seed, c, i)
        shape = generate_shape(c, s, n_points, shading=shape_shading(seed, c, i, shading))
        folder = out / c / f"{i:04d}"
        meta = dict(shape.meta, benchmark_seed=int(seed), index=i)
        write_partnete_shape(folder, shape.xyz, shape.rgb, shape.semantic, shape.instance, meta)
        folders.append(folder)
    return folders


__all__ = ["CATEGORIES", "GENERATOR_VERSION", "SHADINGS", "SynthShape", "build_assembly", "generate_shape",
           "shape_seed", "shape_shading", "write_benchmark"]
