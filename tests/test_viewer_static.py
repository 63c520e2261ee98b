"""The viewer's markup, style sheet and script are package data: declared for wheels, and fully inlined."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import fakes

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "zerops"
STATIC = PACKAGE / "viz" / "static"


def package_data_globs() -> list[str]:
    """The ``[tool.setuptools.package-data]`` patterns of the ``zerops`` package in pyproject.toml."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        tomllib = pytest.importorskip("tomli")
    with open(ROOT / "pyproject.toml", "rb") as f:
        config = tomllib.load(f)
    return list(config["tool"]["setuptools"]["package-data"]["zerops"])


def test_static_files_are_declared_and_fully_inlined(tmp_path: Path):
    from zerops.viz.viewer import PLACEHOLDERS, write_viewer

    files = sorted(p for p in STATIC.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert {p.name for p in files} >= {"viewer.html", "viewer.css", "viewer.js"}
    declared = {p for pattern in package_data_globs() for p in PACKAGE.glob(pattern)}
    missing = [str(p.relative_to(PACKAGE)) for p in files if p not in declared]
    assert not missing, f"not matched by [tool.setuptools.package-data] zerops = [...]: {missing}"

    template = (STATIC / "viewer.html").read_text(encoding="utf-8")
    assert set(re.findall(r"%([A-Z_]+)%", template)) == set(PLACEHOLDERS)
    style = (STATIC / "viewer.css").read_text(encoding="utf-8")
    script = (STATIC / "viewer.js").read_text(encoding="utf-8")
    assert "</style" not in style.lower() and "</script" not in script.lower()     # would end the inline element

    xyz = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    part = (xyz[:, 0] > 0).astype(np.int64)
    text = write_viewer(fakes.make_result(tmp_path / "r", xyz, part, ["a", "b"], [0, 1])).read_text(encoding="utf-8")
    assert not re.search(r"%[A-Z_]+%", text), "an unreplaced placeholder in viewer.html"
    assert style in text and script in text
