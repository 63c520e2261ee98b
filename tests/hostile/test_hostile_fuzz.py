"""Issue #14, fuzzing: 200 seeded mutations (truncation, flipped bytes, changed or swapped header fields) of a
valid PLY (ascii and binary), PCD (ascii and binary), OBJ, NPZ and label.npy, each run in-process through the
CLI. Every one must end within 10 s in exit 0, or exit 2 with exactly one `zerops: error:` line: never a
traceback, an internal error (exit 1) or a warning on stderr."""
from __future__ import annotations

import re
import shutil
import signal
import time
import warnings

import numpy as np
import pytest
from conftest import ascii_ply, cloud_xyz, one_shape_dataset, pcd

CASES = 200
PER_CASE_S = 10.0


class CaseTimeout(BaseException):
    """Raised by SIGALRM when one case runs too long (a BaseException, so zerops cannot turn it into exit 2)."""


def _bases(tmp_path) -> dict[str, bytes]:
    import io as _io

    import trimesh

    from zerops.io.ply import ply_bytes

    xyz = cloud_xyz(200, 7)
    rgb = np.random.default_rng(7).integers(0, 256, size=(200, 3)).astype(np.uint8)
    obj = trimesh.creation.icosphere(subdivisions=1)
    buf = _io.BytesIO()
    np.savez(buf, xyz=xyz, rgb=rgb)                    # uncompressed: mutations reach the .npy headers
    return {"ascii.ply": ascii_ply(xyz), "binary.ply": ply_bytes(xyz, rgb, binary=True),
            "ascii.pcd": pcd(xyz), "binary.pcd": pcd(xyz, binary=True),
            "mesh.obj": obj.export(file_type="obj").encode(), "cloud.npz": buf.getvalue()}


def _header_end(data: bytes) -> int:
    for mark in (b"end_header\n", b"DATA ascii\n", b"DATA binary\n"):
        i = data.find(mark)
        if i >= 0:
            return i + len(mark)
    return min(len(data), 256)


_SPECIAL = [b"-1", b"0", b"1", b"3", b"-5", b"2147483648", b"1000000000000", b"99999999999999999999", b"nan", b"1e9"]


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One seeded mutation: truncate, flip 1-8 bytes, replace a header number, or swap two header lines."""
    kind = rng.integers(4)
    end = max(_header_end(data), 1)
    if kind == 0:
        return data[:int(rng.integers(0, len(data)))]
    if kind == 1:
        out = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            # half of the flips land in the header, where they do the most damage
            pos = int(rng.integers(0, end if rng.random() < 0.5 else len(out)))
            out[pos] = int(rng.integers(0, 256))
        return bytes(out)
    head, body = data[:end], data[end:]
    if kind == 2:
        numbers = list(re.finditer(rb"-?\d+(\.\d+)?", head))
        if numbers:
            m = numbers[int(rng.integers(len(numbers)))]
            new = _SPECIAL[int(rng.integers(len(_SPECIAL)))]
            return head[:m.start()] + new + head[m.end():] + body
    lines = head.split(b"\n")
    if len(lines) > 2:
        i, j = rng.choice(len(lines) - 1, size=2, replace=False)
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines) + body


def _check(rc: int, err: str, caught: list, label: str) -> None:
    assert not caught, (label, [str(w.message) for w in caught])
    assert "Traceback" not in err, (label, err)
    assert rc in (0, 2), (label, rc, err)
    if rc == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("zerops: error: "), (label, err)


def test_fuzzed_inputs_end_in_exit_0_or_one_error_line(cli, tmp_path):
    bases = _bases(tmp_path)
    shape = one_shape_dataset(tmp_path / "data", n=300)
    label = (shape / "label.npy").read_bytes()
    rng = np.random.default_rng(14)
    kinds = list(bases) + ["label.npy"]
    outcomes = {0: 0, 2: 0}

    def alarm(signum, frame):
        raise CaseTimeout()
    old = signal.signal(signal.SIGALRM, alarm)
    t_all = time.perf_counter()
    try:
        for case in range(CASES):
            kind = kinds[case % len(kinds)]
            work = tmp_path / f"case{case}"
            work.mkdir()
            if kind == "label.npy":
                (shape / "label.npy").write_bytes(mutate(label, rng))
                argv = ["eval", tmp_path / "data", "--out", work / "ev", "--method", "oracle", "--quiet"]
            else:
                path = work / kind
                path.write_bytes(mutate(bases[kind], rng))
                argv = ["render", path, "--out", work / "out", "--image-size", "16", "--views", "partslip10",
                        "--points", "200"]
            signal.setitimer(signal.ITIMER_REAL, PER_CASE_S)
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    rc, out, err = cli(*argv)
            except CaseTimeout:
                pytest.fail(f"case {case} ({kind}) ran longer than {PER_CASE_S} s")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            assert time.perf_counter() - t0 < PER_CASE_S
            _check(rc, err, caught, f"case {case} ({kind})")
            if rc == 0:                                     # a success wrote its result and said where
                written = work / "ev" / "report.md" if kind == "label.npy" else work / "out" / "views.png"
                assert written.is_file() and str(written) in out, (case, kind, out)
            outcomes[rc] += 1
            shutil.rmtree(work)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert outcomes[2] > CASES // 4, outcomes          # the mutations do reach the checks
    assert time.perf_counter() - t_all < 120
