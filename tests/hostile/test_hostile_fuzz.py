"""Issue #14, fuzzing: 200 seeded mutations (truncation, flipped bytes, changed or swapped header fields) of a
valid PLY (ascii and binary), PCD (ascii and binary), OBJ, NPZ and label.npy, each run in-process through the
CLI. Every one must end within 10 s in exit 0, or exit 2 with exactly one `zerops: error:` line: never a
traceback, an internal error (exit 1) or a warning on stderr."""
from __future__ import annotations

import json
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


# ----------------------------------------------------------------------------------------------- issue #20
ROUND_TWO_CASES = 72
_HOSTILE_NUMBERS = ["1e308", "-1e308", "inf", "nan", "1e7", "-3e6", "1e-300", "0", "1e6", "0.5", "1e30", "-0"]


def _npz_member(name: str, shape: tuple, dtype: str, fill: bool) -> bytes:
    """One .npy member: the header, then its data (zeros) when ``fill`` and small enough, else nothing."""
    import io as _io

    buf = _io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    size = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    return buf.getvalue() + (bytes(size) if fill and size <= 64 << 20 else b"")


def _bomb(path, members: dict[str, tuple[tuple, str]], rng) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, (shape, dtype) in members.items():
            zf.writestr(f"{name}.npy", _npz_member(name, shape, dtype, bool(rng.random() < 0.6)))


def _deep(rng) -> bytes:
    depth = int(rng.choice([10, 63, 65, 1000, 150_000]))
    open_, close = (b"[", b"]") if rng.random() < 0.5 else (b'{"a":', b"}")
    return open_ * depth + (b"1" if open_ != b"[" else b"") + close * depth


def _round_two_case(case: int, rng, tmp_path, shape, result) -> tuple[list, str]:
    """(argv, family) of one seeded case of the issue #20 families."""
    family = ["npz bomb", "label bomb", "parts bomb", "deep json", "long ply header", "urdf numbers",
              "urdf paths", "summary points"][case % 8]
    work = tmp_path / f"r2case{case}"
    work.mkdir()
    rows = int(rng.choice([1, 300, 299, 4_000_000, 50_000_001, 150_000_000, 2**40]))
    if family == "npz bomb":
        cols = int(rng.choice([1, 3, 6, 9, 12]))
        _bomb(work / "c.npz", {"xyz": ((rows, cols), str(rng.choice(["<f4", "<f8", "<i8", "|V64"])))}, rng)
        return ["render", work / "c.npz", "--out", work / "out", "--image-size", "16", "--views", "partslip10"], family
    if family == "label bomb":
        (shape / "label.npy").unlink(missing_ok=True)
        _bomb(shape / "label.npz", {"semantic_seg": ((rows,), "<i8"), "instance_seg": ((rows,), "<i8"),
                                    "junk": ((rows, 9), "<f8")}, rng)
        return ["eval", tmp_path / "data", "--out", work / "ev", "--method", "oracle", "--quiet"], family
    if family in ("parts bomb", "summary points"):
        summary = json.loads((result / "summary.json").read_text())
        summary["points"] = rows if family == "summary points" else 100
        (result / "summary.json").write_text(json.dumps(summary))
        n = rows if family == "parts bomb" else 100
        _bomb(result / "parts.npz", {"xyz": ((n, 3), "<f4"), "part": ((int(rng.choice([n, rows])),), "<i8"),
                                     "levels": ((int(rng.choice([2, 70])), n), "<i4")}, rng)
        return (["view", result] if rng.random() < 0.5 else ["export", result, "--format", "ply"]), family
    if family == "deep json":
        where = str(rng.choice(["run.json", "meta.json", "summary.json", "names"]))
        body = _deep(rng)
        if where == "run.json":
            (work / "ev").mkdir()
            (work / "ev" / "run.json").write_bytes(body)
            return ["eval", tmp_path / "data", "--out", work / "ev", "--method", "oracle", "--quiet"], family
        if where == "meta.json":
            (shape / "meta.json").write_bytes(body)
            return ["eval", tmp_path / "data", "--out", work / "ev", "--method", "oracle", "--quiet"], family
        if where == "summary.json":
            (result / "summary.json").write_bytes(body)
            return ["view", result], family
        (work / "names.json").write_bytes(body)
        (work / "m.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
        return ["convert", work / "m.obj", "--out", work / "out", "--names", work / "names.json",
                "--points", "100"], family
    if family == "long ply header":
        xyz = cloud_xyz(300, case)
        comments = "".join(f"comment {'z' * 70}\n" for _ in range(int(rng.integers(800, 1600))))
        declared = int(rng.choice([300, 100, 301, 0]))
        binary = rng.random() < 0.5
        head = (f"ply\nformat {'binary_little_endian' if binary else 'ascii'} 1.0\n{comments}element vertex "
                f"{declared}\nproperty float x\nproperty float y\nproperty float z\nend_header\n").encode()
        body = xyz.astype("<f4").tobytes() if binary else "".join(f"{a} {b} {c}\n" for a, b, c in xyz).encode()
        (work / "c.ply").write_bytes(head + body)
        return ["render", work / "c.ply", "--out", work / "out", "--image-size", "16", "--views", "partslip10"], family
    import trimesh

    (work / "asset").mkdir()
    trimesh.creation.box().export(work / "asset" / "box.stl")
    outside = tmp_path / "outside.stl"
    if not outside.exists():
        trimesh.creation.box().export(outside)
    nums = [str(rng.choice(_HOSTILE_NUMBERS)) if rng.random() < 0.5 else "0.1" for _ in range(9)]
    mesh = "box.stl"
    if family == "urdf paths":
        mesh = str(rng.choice([str(outside), "../../outside.stl", "package://asset/box.stl", "missing.stl",
                               "/dev/zero", ".", "file://" + str(outside), "../" * 40 + "etc/hostname"]))
        nums = ["0.1"] * 9
    (work / "asset" / "r.urdf").write_text(
        f'<robot name="r"><link name="a"><visual><origin xyz="{nums[0]} {nums[1]} {nums[2]}"/><geometry><box '
        f'size="{nums[3]} 1 1"/></geometry></visual></link><link name="b"><visual><geometry><mesh filename="{mesh}" '
        f'scale="{nums[4]} {nums[5]} 1"/></geometry></visual></link><joint name="j" type="fixed"><parent link="a"/>'
        f'<child link="b"/><origin xyz="{nums[6]} {nums[7]} 0" rpy="{nums[8]} 0 0"/></joint></robot>')
    return ["convert", work / "asset" / "r.urdf", "--out", work / "out", "--points", "300"], family


def test_round_two_families_end_in_exit_0_or_one_error_line(cli, tmp_path):
    """Issue #20: compressed bombs (cloud, label.npz, parts.npz, summary points), deep JSON, PLY headers past
    64 KiB and hostile URDF numbers and paths; seeded, each case within 10 s, peak memory growing < 1 GB."""
    import resource

    from fakes import make_result

    shape = one_shape_dataset(tmp_path / "data", n=300)
    label, meta = (shape / "label.npy").read_bytes(), (shape / "meta.json").read_bytes()
    xyz = cloud_xyz(100)
    result = make_result(tmp_path / "res", xyz, (xyz[:, 0] > 0).astype(np.int64))
    parts, summary = (result / "parts.npz").read_bytes(), (result / "summary.json").read_bytes()
    rng = np.random.default_rng(20)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seen: dict[str, dict[int, int]] = {}

    def alarm(signum, frame):
        raise CaseTimeout()
    old = signal.signal(signal.SIGALRM, alarm)
    t_all = time.perf_counter()
    try:
        for case in range(ROUND_TWO_CASES):
            for p in (shape / "label.npz",):
                p.unlink(missing_ok=True)
            (shape / "label.npy").write_bytes(label)
            (shape / "meta.json").write_bytes(meta)
            (result / "parts.npz").write_bytes(parts)
            (result / "summary.json").write_bytes(summary)
            for extra in ("viewer.html", "export"):
                shutil.rmtree(result / extra, ignore_errors=True) if extra == "export" else \
                    (result / extra).unlink(missing_ok=True)
            argv, family = _round_two_case(case, rng, tmp_path, shape, result)
            signal.setitimer(signal.ITIMER_REAL, PER_CASE_S)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    rc, _, err = cli(*argv)
            except CaseTimeout:
                pytest.fail(f"case {case} ({family}) ran longer than {PER_CASE_S} s")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            _check(rc, err, caught, f"case {case} ({family}): {argv}")
            seen.setdefault(family, {0: 0, 2: 0})[rc] += 1
            shutil.rmtree(tmp_path / f"r2case{case}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(seen) == 8 and all(v[2] > 0 for k, v in seen.items() if k != "urdf paths"), seen
    assert seen["urdf paths"][0] > 0, seen             # a mesh outside the asset's folder is read (see README)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert grown_mb < 1024, f"peak memory grew by {grown_mb:.0f} MB"
    assert time.perf_counter() - t_all < 60
