"""End to end: `zerops view` writes a page that headless Chromium draws, with one legend row per part.

Run with `make e2e` (installs Debian's chromium when missing). Skipped when `chromium` is not on PATH.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium browser (`make e2e` installs it)")]

NAMES = ["leg", "seat"]
PART_CLASS = [0, 1, 1]              # part 0 is a leg, parts 1 and 2 are seats


def write_result(folder: Path, n: int = 2000) -> Path:
    """A named 3-part result folder, written the way `zerops segment` writes one."""
    from zerops.output import write_segment_outputs
    from zerops.result import PartResult

    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(n, 3))
    xyz = (xyz / np.linalg.norm(xyz, axis=1, keepdims=True)).astype(np.float32)
    part = np.where(xyz[:, 1] < -0.3, 0, np.where(xyz[:, 0] < 0, 1, 2)).astype(np.int64)
    pc = np.asarray(PART_CLASS, dtype=np.int64)
    semantic = pc[part]
    result = PartResult(xyz=xyz, part=part, parts=[np.flatnonzero(part == k) for k in range(3)],
                        seconds={"total": 1.0}, decodes=1, counts={}, semantic=semantic, instance=part.copy(),
                        part_names=list(NAMES), part_class=pc, instance_scores={0: 0.9, 1: 0.8, 2: 0.7},
                        vote_matrix=np.zeros((2, 3), dtype=np.int64))
    return write_segment_outputs(folder, result, source="sphere.ply")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={tmp_path / 'profile'}",
           "--window-size=1000,800", "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("e2e")
    folder = write_result(tmp / "result")
    proc = subprocess.run([sys.executable, "-m", "zerops.cli", "view", str(folder)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    html = Path(proc.stdout.strip().splitlines()[-1])
    assert html == folder / "viewer.html" and html.is_file()
    return tmp, html


def test_screenshot_shows_the_parts(page):
    from PIL import Image

    from zerops.io.palette import part_palette

    tmp, html = page
    shot = tmp / "shot.png"
    proc = chromium(tmp, f"--screenshot={shot}", html.resolve().as_uri())
    assert shot.is_file(), proc.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (800, 1000)
    colors = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colors) > 50, f"only {len(colors)} distinct colors: blank page?"
    canvas = img[:, :700].reshape(-1, 3).astype(np.float64)          # the drawing area, left of the legend
    background = np.array([243, 244, 246], dtype=np.float64)
    drawn = canvas[np.abs(canvas - background).sum(axis=1) > 12]
    assert len(drawn) > 0.05 * len(canvas), "the canvas is (almost) empty"
    found = {}
    for k, color in enumerate(part_palette(3).astype(np.float64)):
        s = drawn @ color / (color @ color)                           # points are the part color, depth-shaded
        resid = np.linalg.norm(drawn - s[:, None] * color, axis=1)
        found[k] = int(((resid < 6) & (s > 0.55) & (s < 1.02)).sum())
    assert all(v > 500 for v in found.values()), f"part colors in the canvas (pixels): {found}"
    print(f"screenshot {img.shape[1]}x{img.shape[0]}, {len(colors)} distinct colors, part pixels {found}")


def test_dom_after_scripts_ran(page):
    tmp, html = page
    proc = chromium(tmp, "--dump-dom", html.resolve().as_uri())
    dom = proc.stdout
    assert "<body" in dom, proc.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-ready="1"' in body, body
    legend = re.search(r'<div id="legend"[^>]*>', dom).group(0)
    assert 'data-count="3"' in legend and 'data-mode="part"' in legend, legend
    items = re.findall(r'<label class="legend-item"[^>]*>.*?</label>', dom, re.S)
    assert len(items) == 3
    names = [re.search(r'class="name"[^>]*>([^<]*)<', it).group(1) for it in items]
    assert names == ["leg", "seat", "seat"]
    assert all('type="checkbox"' in it for it in items)
    for mode in ("part", "semantic", "instance"):
        assert f'id="mode-{mode}"' in dom
    assert re.search(r'<canvas id="view" data-points="2000"[^>]*width="\d+"', dom)


PROBE = """<script>
(function () {
  var out = {}, canvas = document.getElementById("view"), rect = canvas.getBoundingClientRect();
  // hover over the middle of the drawing: the tooltip names the part under the cursor
  canvas.dispatchEvent(new PointerEvent("pointermove", {clientX: rect.left + rect.width / 2,
                                                         clientY: rect.top + rect.height / 2, bubbles: true}));
  out.hover = canvas.dataset.hover || "";
  out.tip = document.getElementById("tip").hidden ? "" : document.getElementById("tip").textContent;
  // color by class: the legend lists the two classes
  var radio = document.getElementById("mode-semantic");
  radio.checked = true; radio.dispatchEvent(new Event("change"));
  out.semantic = {count: document.getElementById("legend").dataset.count,
                  names: Array.prototype.map.call(document.querySelectorAll("#legend .legend-item .name"),
                                                  function (e) { return e.textContent; })};
  radio = document.getElementById("mode-instance");
  radio.checked = true; radio.dispatchEvent(new Event("change"));
  out.instance = document.getElementById("legend").dataset.count;
  document.body.dataset.probe = JSON.stringify(out);
})();
</script>
</body>"""


def test_hover_and_modes(page):
    import html as htmlmod
    import json

    tmp, html = page
    probe = html.with_name("probe.html")
    probe.write_text(html.read_text(encoding="utf-8").replace("</body>", PROBE, 1), encoding="utf-8")
    dom = chromium(tmp, "--dump-dom", probe.resolve().as_uri()).stdout
    m = re.search(r'data-probe="([^"]*)"', dom)
    assert m, dom[:2000]
    out = json.loads(htmlmod.unescape(m.group(1)))
    assert out["tip"] and out["hover"] == out["tip"]
    assert re.match(r"(leg|seat) \(part [0-2]\) · [\d,]+ points", out["hover"]), out["hover"]
    assert out["semantic"] == {"count": "2", "names": ["leg", "seat"]}
    assert out["instance"] == "3"
