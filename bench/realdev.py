"""Build ``data/realdev/``: real multi-part robots and objects from pybullet's ``pybullet_data`` (``make realdev``).

Usage: python bench/realdev.py [--wheels data/.wheels] [--src data/.pybullet] [--out data/realdev]
       [--points 10000] [--seed 0] [--sheet out/realdev-sheet.png]

Takes the pybullet 3.2.7 wheel or sdist that ``pip download`` left in ``--wheels``, unpacks only its
``pybullet_data/`` folder into ``--src`` and converts the shapes of ``SHAPES`` with ``zerops.io.convert`` (one part
per URDF link) into ``<out>/<Category>/<id>``. pybullet_data's bicycle, kuka_iiwa and franka_panda are left out
on purpose (kept for an independent check): ``EXCLUDED`` guards that. Prints points, parts and distinct colors
per shape; ``--sheet`` also renders a contact sheet of some shapes colored by part instance.
"""
from __future__ import annotations

import argparse
import sys
import tarfile
import time
import zipfile
from pathlib import Path, PurePosixPath

EXCLUDED = ("bicycle", "kuka_iiwa", "franka_panda")
LICENSE = "pybullet 3.2.7 pybullet_data (zlib licence); the robot models keep their makers' licences"

# (category, id, path inside pybullet_data, convert options)
SHAPES: tuple[tuple[str, str, str, dict], ...] = (
    ("Quadruped", "a1", "a1/a1.urdf", {}),
    ("Quadruped", "aliengo", "aliengo/aliengo.urdf", {}),
    ("Quadruped", "laikago", "laikago/laikago_toes_zup.urdf", {}),
    ("Quadruped", "mini_cheetah", "mini_cheetah/mini_cheetah.urdf", {}),
    ("Quadruped", "minitaur", "quadruped/minitaur.urdf", {}),
    ("Quadruped", "spirit40", "quadruped/spirit40.urdf", {}),
    ("Quadruped", "vision60", "quadruped/vision60.urdf", {}),
    ("Wheeled", "husky", "husky/husky.urdf", {}),
    ("Wheeled", "racecar", "racecar/racecar.urdf", {}),
    ("Wheeled", "r2d2", "r2d2.urdf", {}),
    ("Arm", "xarm6", "xarm/xarm6_robot.urdf", {}),
    ("Arm", "xarm6_gripper", "xarm/xarm6_with_gripper.urdf", {}),
    ("Humanoid", "humanoid", "humanoid/humanoid.urdf", {"up": "y"}),   # collision shapes only, y-up
    ("Table", "table", "table/table.urdf", {}),
    ("Table", "table_square", "table_square/table_square.urdf", {}),
    ("Gripper", "pr2_gripper", "pr2_gripper.urdf", {}),
    ("Toy", "duck", "duck_vhacd.urdf", {"up": "y"}),                   # the duck mesh is y-up
    ("Toy", "teddy", "teddy_vhacd.urdf", {}),
    ("Toy", "bunny", "bunny.obj", {}),
)
SHEET = ("Quadruped/a1", "Quadruped/minitaur", "Wheeled/husky", "Arm/xarm6", "Humanoid/humanoid",
         "Table/table_square")


def _archive(wheels: Path) -> Path:
    found = sorted(wheels.glob("pybullet-3.2.7*.whl")) + sorted(wheels.glob("pybullet-3.2.7*.tar.gz"))
    if not found:
        sys.exit(f"realdev: no pybullet-3.2.7 wheel or sdist in {wheels}; run "
                 f"pip download pybullet==3.2.7 --no-deps -d {wheels}")
    return found[0]


def unpack_pybullet_data(archive: Path, dest: Path) -> Path:
    """Extract only the files under the archive's (shallowest) ``pybullet_data/`` folder into ``dest/pybullet_data``."""
    target = dest / "pybullet_data"
    if (target / "r2d2.urdf").is_file():
        return target
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            members = [(n, lambda n=n: z.read(n)) for n in z.namelist() if not n.endswith("/")]
            _extract(members, target)
    else:
        with tarfile.open(archive) as t:
            members = [(m.name, lambda m=m: t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]
            _extract(members, target)
    return target


def _extract(members: list, target: Path) -> None:
    roots = [PurePosixPath(*PurePosixPath(n).parts[:PurePosixPath(n).parts.index("pybullet_data") + 1])
             for n, _ in members if "pybullet_data" in PurePosixPath(n).parts]
    if not roots:
        sys.exit("realdev: the pybullet archive has no pybullet_data/ folder")
    root = min(roots, key=lambda p: len(p.parts))
    tmp = target.with_name(target.name + ".part")
    for name, read in members:
        rel = PurePosixPath(name)
        if rel.parts[:len(root.parts)] != root.parts or ".." in rel.parts:
            continue
        out = tmp.joinpath(*rel.parts[len(root.parts):])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(read())
    tmp.rename(target)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", type=Path, default=Path("data/.wheels"))
    ap.add_argument("--src", type=Path, default=Path("data/.pybullet"))
    ap.add_argument("--out", type=Path, default=Path("data/realdev"))
    ap.add_argument("--points", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sheet", type=Path, help="also write a contact sheet (PNG) of some shapes colored by part")
    args = ap.parse_args(argv)

    from zerops.io.convert import convert_asset

    data = unpack_pybullet_data(_archive(args.wheels), args.src)
    t0 = time.perf_counter()
    print(f"{'shape':28s} {'points':>6s} {'parts':>5s} {'w/pts':>5s} {'colors':>6s} {'s':>6s}")
    for category, sid, rel, options in SHAPES:
        if set(PurePosixPath(rel).parts) & set(EXCLUDED):
            raise SystemExit(f"realdev: {rel} is in an excluded folder ({', '.join(EXCLUDED)})")
        r = convert_asset(data / rel, args.out / category / sid, n_points=args.points, seed=args.seed,
                          category=category, license=LICENSE, by="link", overwrite=True, **options)
        print(f"{category + '/' + sid:28s} {r.n_points:6d} {r.n_parts:5d} {r.parts_with_points:5d} "
              f"{r.n_colors:6d} {r.seconds:6.1f}", flush=True)
    print(f"{len(SHAPES)} shapes in {len({s[0] for s in SHAPES})} categories -> {args.out} "
          f"({time.perf_counter() - t0:.0f} s)")
    if args.sheet:
        write_sheet(args.out, args.sheet)
        print(f"contact sheet: {args.sheet}")
    return 0


def write_sheet(root: Path, path: Path, shapes: tuple[str, ...] = SHEET) -> None:
    """Two views per shape: points colored by part instance, then by their own colors."""
    from zerops.config import RenderConfig
    from zerops.eval.partnete import load_partnete_shape
    from zerops.io.palette import part_colors
    from zerops.render.renderer import Renderer, normalize
    from zerops.viz.sheets import contact_sheet, save_png

    images, labels = [], []
    renderer = Renderer(RenderConfig(image_size=400))
    for name in shapes:
        shape = load_partnete_shape(root / name)
        xyz, _, _ = normalize(shape.cloud.xyz)
        for mode, rgb in (("parts", part_colors(shape.instance)), ("colors", shape.cloud.rgb)):
            for view in renderer.render(xyz, rgb, None, layout=[(25, 35), (25, 215)]):
                images.append(view.image)
                labels.append(f"{name} {mode}")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(path, contact_sheet(images, labels=labels, cols=4, thumb=300))


if __name__ == "__main__":
    sys.exit(main())
