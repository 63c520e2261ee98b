"""The command line: help everywhere, one-line errors and non-zero exits for bad input."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from zerops.cli import build_parser, main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zerops.cli", *args], capture_output=True, text=True, timeout=120)


def test_help_for_every_command():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert {"models", "render", "synth", "eval"} <= set(sub.choices)
    for name in sub.choices:
        proc = _run(name, "--help")
        assert proc.returncode == 0, name
        assert "usage: zerops" in proc.stdout
        assert proc.stdout.startswith(f"usage: zerops {name} ") and proc.stderr == "", name
        assert {o for a in sub.choices[name]._actions for o in a.option_strings} <= set(
            re.findall(r"(?<![\w-])--?[a-z][\w-]*", proc.stdout)), name    # every flag is documented


@pytest.mark.parametrize("content, suffix, needle", [
    (None, ".ply", "not found"),
    (b"hello", ".foo", "extension"),
    (b"ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\nproperty float z\nend_header\n",
     ".ply", "empty"),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, content, suffix, needle):
    path = tmp_path / f"cloud{suffix}"
    if content is not None:
        path.write_bytes(content)
    proc = _run("render", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("zerops: error:")
    assert needle in lines[0].lower()
    assert not (tmp_path / "out" / "views.png").exists()


def test_nan_cloud_is_rejected(tmp_path, capsys):
    xyz = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    xyz[5, 1] = np.nan
    path = tmp_path / "nan.npy"
    np.save(path, xyz)
    assert main(["render", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nan" in err[0].lower()
