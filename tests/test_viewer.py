"""Reading result folders (zerops.io.resultdir), the HTML viewer (`zerops view`) and the notebook images."""
from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fakes
from zerops.cli import main
from zerops.errors import ZeropsError
from zerops.io.palette import UNLABELED_GRAY, part_palette
from zerops.io.resultdir import READS_FORMAT, load_result


def sphere_points(n: int = 2000, seed: int = 0) -> np.ndarray:
    xyz = np.random.default_rng(seed).normal(size=(n, 3))
    return (xyz / np.linalg.norm(xyz, axis=1, keepdims=True) * 2.0 + [1.0, 5.0, -3.0]).astype(np.float32)


def make_result(folder: Path, xyz: np.ndarray, part: np.ndarray, names: list[str] | None = None,
                part_class: list[int] | None = None, source: str | None = "input.ply") -> Path:
    return fakes.make_result(folder, xyz, part, names, part_class, source)


def three_parts(xyz: np.ndarray) -> np.ndarray:
    part = np.where(xyz[:, 1] < 4.5, 0, np.where(xyz[:, 0] < 1.0, 1, 2)).astype(np.int64)
    part[:25] = -1
    return part


@pytest.fixture()
def named(tmp_path: Path) -> Path:
    xyz = sphere_points()
    return make_result(tmp_path / "named", xyz, three_parts(xyz), names=["leg", "seat"], part_class=[0, 1, 1])


@pytest.fixture()
def unnamed(tmp_path: Path) -> Path:
    xyz = sphere_points(seed=1)
    return make_result(tmp_path / "plain", xyz, three_parts(xyz))


def page_data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="zerops-data">(.*?)</script>', text, re.S)
    assert m, "the data block is missing"
    return json.loads(m.group(1))


def decode(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


# ----------------------------------------------------------------------------------------------- resultdir
def test_load_result_reads_every_array(named: Path):
    r = load_result(named)
    part = three_parts(sphere_points())
    assert r.xyz.shape == (2000, 3) and r.xyz.dtype == np.float32
    np.testing.assert_array_equal(r.part, part)
    assert r.part_names == ["leg", "seat"] and r.named and r.n_parts == 3
    assert r.available_groupings() == ["part", "semantic", "instance"]
    assert [r.part_class_name(k) for k in range(3)] == ["leg", "seat", "seat"]
    entries = r.entries("part")
    assert [(e.name, e.label, e.points) for e in entries] == [
        ("leg", "leg_0", int((part == 0).sum())), ("seat", "seat_1", int((part == 1).sum())),
        ("seat", "seat_2", int((part == 2).sum()))]
    sem = r.entries("semantic")
    assert [(e.name, e.points) for e in sem] == [("leg", int((part == 0).sum())), ("seat", int((part >= 1).sum()))]
    assert [e.name for e in r.entries("instance")] == ["leg 0", "seat 1", "seat 2"]


def test_reader_format_is_the_writer_format():
    from zerops.output import RESULT_FORMAT

    assert READS_FORMAT == RESULT_FORMAT


def test_unnamed_result_has_only_parts(unnamed: Path):
    r = load_result(unnamed)
    assert r.semantic is None and r.instance is None and r.part_names == [] and not r.named
    assert [e.name for e in r.entries()] == ["part 0", "part 1", "part 2"]
    with pytest.raises(ZeropsError, match="no semantic labels"):
        r.labels("semantic")


def _corrupt_npz(d: Path) -> None:
    (d / "parts.npz").write_bytes(b"PK\x03\x04 this is not a zip file")


def _format_99(d: Path) -> None:
    s = json.loads((d / "summary.json").read_text())
    s["format"] = 99
    s["zerops_version"] = "9.9.9"
    (d / "summary.json").write_text(json.dumps(s))


def _bad_shape(d: Path) -> None:
    with np.load(d / "parts.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["part"] = arrays["part"][:-5]
    np.savez(d / "parts.npz", **arrays)


def _bad_json(d: Path) -> None:
    (d / "summary.json").write_text("{not json")


BAD = {
    "missing": (lambda d: __import__("shutil").rmtree(d), "not found"),
    "no-npz": (lambda d: (d / "parts.npz").unlink(), "parts.npz is missing"),
    "corrupt-npz": (_corrupt_npz, "cannot read the result arrays"),
    "format-99": (_format_99, "made by zerops 9.9.9 with result format 99; this zerops reads format 1"),
    "shape": (_bad_shape, "'part' must be an (2000,) integer array"),
    "json": (_bad_json, "summary.json: cannot read it"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_result_folders_are_one_line_errors(unnamed: Path, case: str, capsys):
    damage, needle = BAD[case]
    damage(unnamed)
    with pytest.raises(ZeropsError) as info:
        load_result(unnamed)
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert main(["view", str(unnamed)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zerops: error:") and needle in err[0]
    assert not (unnamed / "viewer.html").exists()


# ----------------------------------------------------------------------------------------------- viewer
def test_viewer_embeds_points_parts_and_legend(named: Path):
    from zerops.viz.viewer import viewer_html

    r = load_result(named)
    text = viewer_html(r)
    data = page_data(text)
    assert data["points_total"] == data["points_shown"] == 2000
    xyz = decode(data["xyz"], "<f4").reshape(-1, 3)
    assert xyz.shape == (2000, 3)
    # normalized to the unit sphere around the bounding-box center, same order as the result
    center = (r.xyz.min(0) + r.xyz.max(0)) / 2
    np.testing.assert_allclose(xyz * data["radius"] + center, r.xyz, atol=1e-4)
    assert set(data["modes"]) == {"part", "semantic", "instance"}
    part = data["modes"]["part"]
    labels = decode(part["labels"], "<i4")
    np.testing.assert_array_equal(labels, r.part)         # part ids are their entry indices
    assert [e["name"] for e in part["entries"]] == ["leg", "seat", "seat"]
    assert [e["points"] for e in part["entries"]] == np.bincount(r.part[r.part >= 0]).tolist()
    assert [e["color"] for e in part["entries"]] == part_palette(3).tolist()
    assert part["unassigned"] == 25 and data["gray"] == UNLABELED_GRAY.tolist()
    sem = data["modes"]["semantic"]
    assert [e["name"] for e in sem["entries"]] == ["leg", "seat"]
    np.testing.assert_array_equal(decode(sem["labels"], "<i4"), r.semantic)
    # page structure the browser test and users rely on
    assert '<div id="legend" data-count="0"' in text and 'data-points="2000"' in text
    assert "document.body.dataset.ready" in text and "legend-item" in text
    for k in ("part", "semantic", "instance"):
        assert 'input.id = "mode-" + k' in text and k in data["modes"]


def test_viewer_is_self_contained(named: Path):
    from zerops.viz.viewer import viewer_html

    text = viewer_html(load_result(named))
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"<script[^>]*\bsrc\s*=", text)
    assert not re.search(r"<link[^>]*\bhref\s*=", text)
    assert "@import" not in text and "url(" not in text
    assert text.count("<script") == 2                     # the data block and the inline viewer


def test_viewer_subsamples_large_clouds_but_counts_all(named: Path):
    from zerops.viz.viewer import viewer_html

    data = page_data(viewer_html(load_result(named), max_points=500))
    assert data["points_shown"] == 500 and data["points_total"] == 2000
    assert decode(data["xyz"], "<f4").size == 1500
    assert decode(data["modes"]["part"]["labels"], "<i4").size == 500
    assert sum(e["points"] for e in data["modes"]["part"]["entries"]) == 2000 - 25


def test_viewer_unnamed_has_part_mode_only(unnamed: Path):
    from zerops.viz.viewer import viewer_html

    data = page_data(viewer_html(load_result(unnamed)))
    assert list(data["modes"]) == ["part"]
    assert [e["name"] for e in data["modes"]["part"]["entries"]] == ["part 0", "part 1", "part 2"]


def test_viewer_escapes_names(tmp_path: Path):
    from zerops.viz.viewer import viewer_html

    xyz = sphere_points(200)
    d = make_result(tmp_path / "r", xyz, (xyz[:, 0] > 1).astype(np.int64), names=["</script><b>x", "a&b"],
                    part_class=[0, 1])
    text = viewer_html(load_result(d))
    assert "</script><b>" not in text
    assert [e["name"] for e in page_data(text)["modes"]["part"]["entries"]] == ["</script><b>x", "a&b"]


def test_cli_view_writes_the_page(named: Path, capsys):
    assert main(["view", str(named)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [str(named / "viewer.html")]
    text = (named / "viewer.html").read_text(encoding="utf-8")
    assert page_data(text)["points_shown"] == 2000
    assert not list(named.glob(".*.tmp*"))


def test_cli_view_open_without_display_prints_the_path(named: Path, capsys, monkeypatch):
    import webbrowser

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    opened = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url))
    assert main(["view", str(named), "--open"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == str(named / "viewer.html")
    assert opened == []
    monkeypatch.setenv("DISPLAY", ":0")
    assert main(["view", str(named), "--open"]) == 0
    assert capsys.readouterr().out.splitlines() == [str(named / "viewer.html")]
    assert opened == [(named / "viewer.html").resolve().as_uri()]


def test_cli_view_serve(named: Path):
    import urllib.request

    # started with SIGINT ignored, as a background job of a non-interactive shell: Ctrl-C must still stop it
    proc = subprocess.Popen([sys.executable, "-m", "zerops.cli", "view", str(named), "--serve", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert proc.stdout.readline().strip() == str(named / "viewer.html")
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/viewer\.html", line).group(0)
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read().decode("utf-8")
        assert page_data(body)["points_total"] == 2000
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, proc.stderr.read()


# ----------------------------------------------------------------------------------------------- notebook
def test_part_figure_renders_part_colors(named: Path):
    from zerops.viz.notebook import part_figure

    img = part_figure(named, elev=30, azim=45, size=200)
    assert img.shape == (200, 200, 3) and img.dtype == np.uint8
    fg = img.reshape(-1, 3)[(img.reshape(-1, 3) != 255).any(axis=1)].astype(np.float64)
    assert len(fg) > 2000
    for color in part_palette(3).astype(np.float64):       # each part color, at some shade, is in the image
        s = fg @ color / (color @ color)
        resid = np.linalg.norm(fg - s[:, None] * color, axis=1)
        assert ((resid < 4) & (s > 0.6) & (s < 1.01)).sum() > 30
    other = part_figure(named, elev=-10, azim=200, size=200)
    assert not np.array_equal(img, other)


def test_show_views_returns_an_image(named: Path):
    from PIL import Image

    from zerops.viz.notebook import show_views

    fallback = show_views(named)                              # no views.png: a part figure instead
    assert isinstance(fallback, Image.Image) and fallback.size == (512, 512)
    Image.new("RGB", (40, 30), (1, 2, 3)).save(named / "views.png")
    img = show_views(named)
    assert img.size == (40, 30) and img.getpixel((0, 0)) == (1, 2, 3)
    with pytest.raises(ZeropsError, match="which must be"):
        show_views(named, which="other")


def test_truncated_npz_is_a_one_line_error(tmp_path: Path):
    # a truncated npz (as left by an interrupted copy) is a one-line error too
    xyz = sphere_points(100)
    d = make_result(tmp_path / "r", xyz, (xyz[:, 0] > 1).astype(np.int64))
    data = (d / "parts.npz").read_bytes()
    (d / "parts.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ZeropsError, match="cannot read the result arrays"):
        load_result(d)
