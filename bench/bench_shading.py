"""Share of rendered views whose object pixels have fewer than 8 distinct gray levels, with and without
shading, on every shape of the given PartNetE-layout folders (default: data/realdev and ../shared/data/real).

    .venv/bin/python bench/bench_shading.py [FOLDER ...]      # writes bench/shading.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from zerops.config import RenderConfig
from zerops.eval.partnete import list_partnete_shapes, load_partnete_shape
from zerops.render.renderer import Renderer, normalize

FEW_LEVELS = 8


def flat_views(folder: Path, shading: str) -> tuple[int, int]:
    """(views with < FEW_LEVELS gray levels on the object, views) over every shape in ``folder``."""
    renderer = Renderer(RenderConfig(shading=shading))
    flat = total = 0
    for path in list_partnete_shapes(folder):
        shape = load_partnete_shape(path)
        xyz, _, _ = normalize(shape.cloud.xyz)
        for view in renderer.render(xyz, shape.cloud.rgb, shape.cloud.normals):
            fg = view.index_map >= 0
            gray = np.round(view.image[fg].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
            flat += int(len(np.unique(gray)) < FEW_LEVELS)
            total += 1
    return flat, total


def main(folders: list[str]) -> None:
    rows = {}
    for folder in folders:
        if not Path(folder).is_dir():
            print(f"skipping {folder}: not found")
            continue
        for shading in ("none", "lambert"):
            flat, total = flat_views(Path(folder), shading)
            rows[f"{folder} shading={shading}"] = {"flat_views": flat, "views": total,
                                                   "share": round(flat / max(total, 1), 4)}
            print(f"{folder:28s} shading={shading:8s} {flat:4d} of {total:4d} views with < {FEW_LEVELS} gray levels")
    Path("bench").mkdir(exist_ok=True)
    Path("bench/shading.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:] or ["data/realdev", "../shared/data/real"])
