"""Helpers for the hostile-input tests (issue #14): run the CLI in-process or in a subprocess and check the
error contract: exit code 2, the last stderr line is the one `zerops: error: ...` line, no traceback."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


class Cli:
    def __init__(self, capsys) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        """``main(argv)`` in-process -> (exit code, stdout, stderr); argparse's SystemExit is an exit code."""
        from zerops.cli import main

        self.capsys.readouterr()
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        out, err = self.capsys.readouterr()
        return rc, out, err


@pytest.fixture
def cli(capsys) -> Cli:
    return Cli(capsys)


def assert_error(rc: int, err: str, *needles: str, usage: bool = False) -> str:
    """Exit 2, no traceback, exactly one `zerops: error:` line and it is the last line (only the usage may
    precede it, for option errors); every needle is in it. Returns the line."""
    assert rc == 2, (rc, err)
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1 and lines[-1] == errors[0] and lines[-1].startswith("zerops: error: "), err
    if not usage:
        assert len(lines) == 1, err
    else:
        assert lines[0].startswith("usage: zerops"), err
    for needle in needles:
        assert needle in lines[-1], (needle, lines[-1])
    return lines[-1]


def run_subprocess(args: list[str], timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    """``python -m zerops ARGS`` with the tree's sources; a timeout fails the test (the process is killed)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "tests")]))
    env.update(kw.pop("env", {}))
    try:
        return subprocess.run([sys.executable, "-m", "zerops", *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, env=env, **kw)
    except subprocess.TimeoutExpired:
        pytest.fail(f"zerops {' '.join(map(str, args))} did not end within {timeout} s (hang)")


def cloud_xyz(n: int = 300, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32)


def ascii_ply(xyz: np.ndarray, declared: int | None = None) -> bytes:
    head = (f"ply\nformat ascii 1.0\nelement vertex {len(xyz) if declared is None else declared}\n"
            "property float x\nproperty float y\nproperty float z\nend_header\n")
    return (head + "".join(f"{a:.6g} {b:.6g} {c:.6g}\n" for a, b, c in xyz)).encode()


def pcd(xyz: np.ndarray, declared: int | None = None, binary: bool = False) -> bytes:
    n = len(xyz) if declared is None else declared
    head = (f"# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH {n}\nHEIGHT 1\n"
            f"VIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {'binary' if binary else 'ascii'}\n").encode()
    if binary:
        return head + np.ascontiguousarray(xyz, dtype="<f4").tobytes()
    return head + "".join(f"{a:.6g} {b:.6g} {c:.6g}\n" for a, b, c in xyz).encode()


def one_shape_dataset(root: Path, n: int = 400) -> Path:
    """``root/Chair/0000/{pc.ply, label.npy, meta.json}`` (a procedural chair); returns the shape folder."""
    from zerops.eval.synthetic import write_benchmark

    return write_benchmark(root, per_category=1, seed=0, categories=["Chair"], n_points=n, progress=False)[0]


@pytest.fixture
def timed():
    """``with timed(limit):`` fails when the block takes longer than ``limit`` seconds."""
    class _Timed:
        def __init__(self, limit: float) -> None:
            self.limit = limit

        def __enter__(self):
            self.t0 = time.perf_counter()
            return self

        def __exit__(self, *exc):
            self.seconds = time.perf_counter() - self.t0
            if exc[0] is None:
                assert self.seconds < self.limit, f"took {self.seconds:.2f} s, limit {self.limit} s"
    return _Timed
