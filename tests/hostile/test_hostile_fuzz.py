"""Issue #14, fuzzing: 200 seeded mutations (truncation, flipped bytes, changed or swapped header fields) of a
valid PLY (ascii and binary), PCD (ascii and binary), OBJ, NPZ and label.npy, each run in-process through the
CLI. Every one must end within 10 s in exit 0, or exit 2 with exactly one `zerops: error:` line: never a
traceback, an internal error (exit 1) or a warning on stderr."""
from __future__ import annotations

import json
import os
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


@pytest.fixture
def case_alarm():
    """SIGALRM raises CaseTimeout while the test runs (each case arms it through :func:`_timed_case`); the
    caller's handler and a cleared timer are restored afterwards."""
    def alarm(signum, frame):
        raise CaseTimeout()
    old = signal.signal(signal.SIGALRM, alarm)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _timed_case(cli, argv: list, label: str) -> tuple[int, str, str, list]:
    """Run one CLI case under the SIGALRM budget (the caller installs the handler raising CaseTimeout);
    (exit code, stdout, stderr, warnings caught)."""
    signal.setitimer(signal.ITIMER_REAL, PER_CASE_S)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rc, out, err = cli(*argv)
    except CaseTimeout:
        pytest.fail(f"{label} ran longer than {PER_CASE_S} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return rc, out, err, caught


def test_fuzzed_inputs_end_in_exit_0_or_one_error_line(cli, tmp_path, case_alarm):
    bases = _bases(tmp_path)
    shape = one_shape_dataset(tmp_path / "data", n=300)
    label = (shape / "label.npy").read_bytes()
    rng = np.random.default_rng(14)
    kinds = list(bases) + ["label.npy"]
    outcomes = {0: 0, 2: 0}

    t_all = time.perf_counter()
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
        t0 = time.perf_counter()
        rc, out, err, caught = _timed_case(cli, argv, f"case {case} ({kind})")
        assert time.perf_counter() - t0 < PER_CASE_S
        _check(rc, err, caught, f"case {case} ({kind})")
        if rc == 0:                                     # a success wrote its result and said where
            written = work / "ev" / "report.md" if kind == "label.npy" else work / "out" / "views.png"
            assert written.is_file() and str(written) in out, (case, kind, out)
        outcomes[rc] += 1
        shutil.rmtree(work)
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


def test_round_two_families_end_in_exit_0_or_one_error_line(cli, tmp_path, case_alarm):
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

    t_all = time.perf_counter()
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
        rc, _, err, caught = _timed_case(cli, argv, f"case {case} ({family})")
        _check(rc, err, caught, f"case {case} ({family}): {argv}")
        seen.setdefault(family, {0: 0, 2: 0})[rc] += 1
        shutil.rmtree(tmp_path / f"r2case{case}")
    assert len(seen) == 8 and all(v[2] > 0 for k, v in seen.items() if k != "urdf paths"), seen
    assert seen["urdf paths"][0] > 0, seen             # a mesh outside the asset's folder is read (see README)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert grown_mb < 1024, f"peak memory grew by {grown_mb:.0f} MB"
    assert time.perf_counter() - t_all < 60


# ----------------------------------------------------------------------------------------------- issue #26
def _special(kind: str, path):
    """Make ``path`` a special file of ``kind``; returns the name an asset should use for it."""
    import socket

    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    elif kind == "link to fifo":
        os.mkfifo(path.with_name("real_pipe"))
        os.symlink(path.with_name("real_pipe"), path)
    elif kind in ("/dev/zero", "/dev/null"):
        os.symlink(kind, path)
    return path.name


def _special_case(case: int, rng, work) -> tuple[list, str]:
    """A mesh or asset that names a special file from inside (mtllib, map_Kd, glTF buffer or image, URDF)."""
    kind = str(rng.choice(["fifo", "folder", "socket", "link to fifo", "/dev/zero", "/dev/null"]))
    namer = ["mtllib", "map_Kd", "gltf buffer", "gltf image", "urdf mesh"][case % 5]
    name = _special(kind, work / "special.bin")
    tetra = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"
    if namer in ("mtllib", "map_Kd"):
        if namer == "map_Kd":
            (work / "m.mtl").write_text(f"newmtl a\nKd 1 0 0\nmap_Kd {name}\n")
        (work / "m.obj").write_text(f"mtllib {name if namer == 'mtllib' else 'm.mtl'}\nusemtl a\n" + tetra)
        asset = work / "m.obj"
    elif namer.startswith("gltf"):
        import base64

        data = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], "<f4").tobytes()
        inline = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
        doc = {"asset": {"version": "2.0"}, "buffers": [{"uri": name if namer == "gltf buffer" else inline,
                                                         "byteLength": 36}],
               "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 36}],
               "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                              "max": [1, 1, 0], "min": [0, 0, 0]}],
               "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}], "nodes": [{"mesh": 0}],
               "scenes": [{"nodes": [0]}], "scene": 0}
        if namer == "gltf image":
            doc.update(images=[{"uri": name}], textures=[{"source": 0}],
                       materials=[{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}])
            doc["meshes"][0]["primitives"][0]["material"] = 0
        (work / "m.gltf").write_text(json.dumps(doc))
        asset = work / "m.gltf"
    else:
        (work / "r.urdf").write_text(f'<robot name="r"><link name="a"><visual><geometry><mesh filename="{name}"/>'
                                     '</geometry></visual></link></robot>')
        return ["convert", work / "r.urdf", "--out", work / "out", "--points", "100"], f"{namer} -> {kind}"
    if rng.random() < 0.5:
        return ["convert", asset, "--out", work / "out", "--points", "100"], f"{namer} -> {kind}"
    return (["render", asset, "--out", work / "out", "--image-size", "16", "--views", "partslip10", "--points", "100"],
            f"{namer} -> {kind}")


_MEMBER_NAMES = ["xyz", "xyz.npy", "points", "points.npy", "a/b.npy", "../up.npy", "xyz.NPY", "é.npy", "rgb",
                 "data", " xyz.npy", "xyz.npy.npy"]
_DTYPES = ["M8[s]", "m8[ms]", "O", "f4,f4,f4", "c16", "f2", "?", "u8", "i1", ">f8", "S3", "U3", "V12"]


def _npy(arr) -> bytes:
    import io as _io

    buf = _io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _array_of(dtype: str, n: int, cols: int = 3) -> np.ndarray:
    if dtype == "O":
        return np.array([[object()] * cols] * 2, dtype=object)
    if "," in dtype:
        return np.zeros(n, dtype=dtype)
    return (np.random.default_rng(n).normal(size=(n, cols)) * 10).astype(dtype)


def _member_case(case: int, rng, work, shape) -> tuple[list, str]:
    """npz member names (with or without .npy, odd paths, text) or array dtypes, in a cloud or a label.npz."""
    import zipfile

    if case % 2 == 0:
        names = list(rng.choice(_MEMBER_NAMES, size=int(rng.integers(1, 3)), replace=False))
        with zipfile.ZipFile(work / "c.npz", "w") as zf:
            for name in names:
                what = rng.random()
                zf.writestr(str(name), b"some text\n" if what < 0.25 else _npy(cloud_xyz(150, case)))
        return (["render", work / "c.npz", "--out", work / "out", "--image-size", "16", "--views", "partslip10"],
                f"members {names}")
    dtype = str(rng.choice(_DTYPES))
    if rng.random() < 0.5:
        np.save(work / "c.npy", _array_of(dtype, 150), allow_pickle=True)
        return (["render", work / "c.npy", "--out", work / "out", "--image-size", "16", "--views", "partslip10"],
                f"cloud dtype {dtype}")
    (shape / "label.npy").unlink(missing_ok=True)
    n = 300
    sem = np.zeros(n, dtype=dtype) if "," in dtype else (_array_of(dtype, n, 1)[:, 0] if dtype != "O" else
                                                          np.array([object()] * n))
    with zipfile.ZipFile(shape / "label.npz", "w") as zf:
        zf.writestr("semantic_seg.npy", _npy(sem))
        zf.writestr("instance_seg" + ("" if rng.random() < 0.5 else ".npy"), _npy(np.zeros(n, np.int64)))
    return ["eval", shape.parents[1], "--out", work / "ev", "--method", "oracle", "--quiet"], f"label dtype {dtype}"


ROUND_THREE_CASES = 60


def test_round_three_families_end_in_exit_0_or_one_error_line(cli, tmp_path, case_alarm):
    """Issue #26: special files named from inside other files (FIFO, socket, folder, device, a link to a FIFO;
    named by mtllib, map_Kd, glTF buffers and images, URDF meshes; an image no primitive samples is never
    opened), npz member names and array dtypes (dates,
    time spans, objects, records, complex, float16, text); seeded, each case within 10 s, no hang."""
    shape = one_shape_dataset(tmp_path / "data", n=300)
    label = (shape / "label.npy").read_bytes()
    rng = np.random.default_rng(26)
    seen: dict[str, dict[int, int]] = {}

    t_all = time.perf_counter()
    for case in range(ROUND_THREE_CASES):
        (shape / "label.npz").unlink(missing_ok=True)
        (shape / "label.npy").write_bytes(label)
        work = tmp_path / f"r3case{case}"
        work.mkdir()
        family = "special files" if case % 2 == 0 else "npz members and dtypes"
        argv, what = (_special_case(case // 2, rng, work) if family == "special files" else
                      _member_case(case // 2, rng, work, shape))
        rc, _, err, caught = _timed_case(cli, argv, f"case {case} ({what})")
        _check(rc, err, caught, f"case {case} ({what}): {argv}")
        # a FIFO or socket in the asset's folder is refused; a link out to /dev is outside the folder
        # trimesh reads from (never opened), and an image no primitive samples is never opened
        if family == "special files" and what.split(" -> ")[1] in ("fifo", "socket", "link to fifo") and \
                "gltf image" not in what:
            assert rc == 2 and "zerops reads only regular files" in err, (what, err)
        seen.setdefault(family, {0: 0, 2: 0})[rc] += 1
        shutil.rmtree(work)
    assert seen["special files"][2] > 10 and seen["npz members and dtypes"][0] > 0, seen
    assert seen["npz members and dtypes"][2] > 5, seen
    assert time.perf_counter() - t_all < 90


def _config_rules() -> dict[str, dict]:
    """Every ``section -> {field: rule}`` the config sections check (read by wrapping zerops.config.check)."""
    import zerops.config as config

    rules: dict[str, dict] = {}
    real = config.check

    def record(obj, section, section_rules):
        rules.setdefault(section, dict(section_rules))
        return real(obj, section, section_rules)
    config.check = record
    try:
        config.ZeroPSConfig()
    finally:
        config.check = real
    return {k: v for k, v in rules.items() if k}


def _bound_values(rule, kind) -> tuple[list, list]:
    """(values inside a range rule, at its bounds; values one past them)."""
    inside, past = [], []
    for bound, is_open, sign in ((rule.lo, rule.lo_open, -1), (rule.hi, rule.hi_open, 1)):
        if bound is None:
            continue
        step = 1 if kind is int else max(abs(bound) * 1e-6, 1e-9)
        if is_open:
            past.append(bound)
            inside.append(bound - sign * step)
        else:
            inside.append(bound)
            past.append(bound + sign * step)
    return inside, past


def test_every_set_key_at_its_bounds_and_one_past():
    """Issue #26: each `--set SECTION.KEY` with a range is accepted at its bounds and refused one past them, in
    one line naming the key; choices accept their first name and refuse another; NaN / inf are refused."""
    from zerops.config import ZeroPSConfig
    from zerops.errors import ZeropsError
    from zerops.options import build_config

    cfg = ZeroPSConfig()
    checked = 0
    for section, rules in _config_rules().items():
        for name, rule in rules.items():
            key = f"{section}.{name}"
            current = cfg
            for part in key.split("."):         # (graph.votes.min_score: a nested section)
                current = getattr(current, part)
            if isinstance(rule, tuple):
                build_config(overrides=[f"{key}={rule[0]}"])
                with pytest.raises(ZeropsError, match=re.escape(key)):
                    build_config(overrides=[f"{key}=no-such-{name}"])
                continue
            if not hasattr(rule, "holds") or isinstance(current, bool):
                continue
            kind = int if isinstance(current, int) else float
            inside, past = _bound_values(rule, kind)
            for value in inside:
                try:
                    build_config(overrides=[f"{key}={value!r}"])
                except ZeropsError as exc:       # another setting's rule (e.g. znear < distance - 1)
                    assert key not in str(exc) or "must be in (0, distance" in str(exc), (key, value, exc)
            for value in past + ([float("nan"), float("inf")] if kind is float else []):
                with pytest.raises(ZeropsError, match=re.escape(key)):
                    build_config(overrides=[f"{key}={value!r}"])
            checked += 1
    assert checked > 40, checked


@pytest.mark.parametrize("env, argv, outcome", [
    ({"ZEROPS_THREADS": "99999"}, ["segment", "{cloud}", "--out", "{tmp}/o", "--no-cache"], "ZEROPS_THREADS"),
    ({"ZEROPS_THREADS": "-3"}, ["segment", "{cloud}", "--out", "{tmp}/o", "--no-cache"], "ZEROPS_THREADS"),
    ({"ZEROPS_THREADS": "2", "ZEROPS_HOME": "{tmp}/nohome"}, ["segment", "{cloud}", "--out", "{tmp}/o", "--no-cache"],
     "embedded model file"),
    ({"ZEROPS_HOME": "{cloud}"}, ["models", "list"], 0),
    ({"ZEROPS_HOME": "/dev/null"}, ["segment", "{cloud}", "--out", "{tmp}/o", "--no-cache"], "is missing"),
    ({"ZEROPS_HOME": "{tmp}/ü_home"}, ["models", "list"], 0),
    ({"PYTHONIOENCODING": "ascii"}, ["render", "{cloud}", "--out", "{tmp}/ö", "--image-size", "16"], 0),
    ({"PYTHONIOENCODING": "ascii"}, ["render", "{tmp}/ö.ply", "--out", "{tmp}/o"], "file not found"),
    ({"ZEROPS_MAX_COMPRESSION_RATIO": "0"}, ["render", "{npz}", "--out", "{tmp}/o"], "must be a number >= 1"),
    ({"ZEROPS_MAX_COMPRESSION_RATIO": "1"}, ["render", "{npz}", "--out", "{tmp}/o", "--image-size", "16"], 0),
])
def test_environment_variables_end_in_exit_0_or_one_error_line(tmp_path, env, argv, outcome):
    """Issue #26: ZEROPS_THREADS, ZEROPS_HOME, PYTHONIOENCODING and ZEROPS_MAX_COMPRESSION_RATIO, bad and good."""
    from conftest import run_subprocess

    cloud = tmp_path / "c.ply"
    cloud.write_bytes(ascii_ply(cloud_xyz(200)))
    np.savez_compressed(tmp_path / "c.npz", xyz=cloud_xyz(200))
    fill = {"{cloud}": str(cloud), "{tmp}": str(tmp_path), "{npz}": str(tmp_path / "c.npz")}

    def sub(text: str) -> str:
        for k, v in fill.items():
            text = text.replace(k, v)
        return text
    proc = run_subprocess([sub(a) for a in argv], env={k: sub(v) for k, v in env.items()}, timeout=60)
    err = proc.stderr
    assert "Traceback" not in err, err
    if outcome == 0:
        assert proc.returncode == 0 and err == "", err
    else:
        lines = err.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("zerops: error: "), err
        assert outcome in lines[0], lines[0]
