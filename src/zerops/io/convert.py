"""Multi-part assets to PartNetE shape folders (``zerops convert``).

Assets: a URDF (one part per link with visuals, or per visual with ``by="visual"``; see :mod:`zerops.io.urdf`),
a GLB/GLTF scene (one part per mesh node, with its world transform, in node-name order), a folder of meshes
(one part per file, named by the file stem, in name order) or a single mesh file (one part). Points are
sampled area-uniformly on the outer surface only (:mod:`zerops.geometry.outersurface`) and colored with the flat
material colors: the URDF ``<material>`` color, else the mesh's own texture / material / vertex colors, else
gray; no shading. ``instance_seg`` is the part index, ``semantic_seg`` the index of the part's class from a
``names`` map (-1 without one). The folder appears only when everything succeeded.
"""
from __future__ import annotations

import fnmatch
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.convertout import check_apart, check_convert_out
from zerops.io.files import check_regular, load_json
from zerops.io.mesh import MESH_EXTENSIONS, check_container, texture_guard
from zerops.io.outdir import atomic_folder

CONVERTER_VERSION = "1"
GRAY = np.array([0.5, 0.5, 0.5])
SCENE_EXTENSIONS = (".glb", ".gltf")
FOLDER_EXTENSIONS = tuple(sorted(set(MESH_EXTENSIONS) | {".ply"}))
# output is y-up (PartNet's convention): a z-up asset is turned by -90 degrees about x, (x, y, z) -> (x, z, -y)
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


@dataclass
class Piece:
    """A mesh placed in the asset's frame: ``transform`` (4, 4) maps ``mesh`` vertices there; ``rgb`` (3,)
    in [0, 1] overrides the mesh's own colors when not None."""

    mesh: Any
    transform: np.ndarray
    rgb: np.ndarray | None = None

    def triangles(self) -> np.ndarray:
        """(F, 3, 3) float64 triangle corners in the asset frame."""
        v = np.asarray(self.mesh.vertices, dtype=np.float64) @ self.transform[:3, :3].T + self.transform[:3, 3]
        return v[np.asarray(self.mesh.faces, dtype=np.int64)]


@dataclass
class AssetPart:
    """One part instance: its name, the URDF link (node / file) it comes from, and its meshes."""

    name: str
    link: str
    pieces: list[Piece]


@dataclass
class ConvertResult:
    folder: Path
    n_points: int
    n_parts: int
    parts_with_points: int
    n_colors: int
    seconds: float


# ----------------------------------------------------------------------------------------------- reading
class _MeshCache:
    """Loads each mesh file once per conversion (URDFs reuse files across links)."""

    def __init__(self) -> None:
        self._meshes: dict[Path, list] = {}

    def load(self, path: Path) -> list:
        """The file's triangle meshes (scene nodes flattened with their transforms); ZeropsError if unreadable."""
        import trimesh

        key = path.resolve()
        if key not in self._meshes:
            check_container(path)                  # a lying STL header, a bad-JSON .gltf: said before trimesh
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings(), texture_guard(path) as resolver:
                    warnings.simplefilter("ignore", RuntimeWarning)   # absurd vertices: judged after sampling
                    scene = trimesh.load_scene(str(path), file_type=path.suffix.lower().lstrip(".") or None,
                                               resolver=resolver)
                    meshes = [g for g in scene.dump(concatenate=False) if isinstance(g, trimesh.Trimesh)]
            except ZeropsError:
                raise
            except Exception as exc:  # noqa: BLE001 - trimesh raises many types for malformed files
                detail = " ".join(str(exc).split())[:200]
                hint = " (DAE needs: pip install pycollada)" if path.suffix.lower() == ".dae" and \
                    "pycollada" not in detail else ""
                raise ZeropsError(f"{path}: cannot read mesh ({type(exc).__name__}: {detail}){hint}") from None
            meshes = [m for m in meshes if len(m.faces)]
            if not meshes:
                raise ZeropsError(f"{path}: the mesh has no faces")
            self._meshes[key] = meshes
        return self._meshes[key]


def urdf_parts(path: Path, by: str = "link", geometry: str = "auto") -> list[AssetPart]:
    """Parts of a URDF: one per link with visuals (``by="link"``) or one per visual (``by="visual"``).

    ``geometry``: visual, collision, or auto (the visuals; the collision shapes when the URDF has no visual).
    """
    from zerops.io.urdf import link_poses, parse_urdf, primitive_mesh, resolve_mesh_path

    robot = parse_urdf(path)
    poses = link_poses(robot)
    use = robot.visuals
    if geometry == "collision" or (geometry == "auto" and not any(robot.visuals.values())):
        use = robot.collisions
    if not any(use.values()):
        what = {"auto": "visual or collision", "visual": "visual", "collision": "collision"}[geometry]
        raise ZeropsError(f"{path}: no link has a {what} element; nothing to convert")
    cache = _MeshCache()
    parts: list[AssetPart] = []
    for link in robot.links:
        visuals = use[link]
        group: list[Piece] = []
        for v in visuals:
            base = poses[link] @ v.origin
            rgb = None if v.rgba is None else v.rgba[:3]
            if v.geometry.kind == "mesh":
                scale = np.diag(np.append(v.geometry.scale, 1.0))
                file = resolve_mesh_path(v.geometry.filename, path)
                pieces = [Piece(m, base @ scale, rgb) for m in cache.load(file)]
            else:
                pieces = [Piece(primitive_mesh(v.geometry), base, rgb)]
            if by == "visual":
                name = link if len(visuals) == 1 else f"{link}:{v.name or v.index}"
                parts.append(AssetPart(name, link, pieces))
            else:
                group.extend(pieces)
        if group:
            parts.append(AssetPart(link, link, group))
    return parts


def scene_parts(path: Path) -> list[AssetPart]:
    """Parts of a GLB/GLTF scene: one per node holding a triangle mesh, with its world transform."""
    import trimesh

    check_container(path)
    try:
        with texture_guard(path) as resolver:
            scene = trimesh.load_scene(str(path), resolver=resolver)
    except ZeropsError:
        raise
    except Exception as exc:  # noqa: BLE001
        detail = " ".join(str(exc).split())[:200]
        raise ZeropsError(f"{path}: cannot read scene ({type(exc).__name__}: {detail})") from None
    parts = []
    try:
        for node in sorted(scene.graph.nodes_geometry):
            transform, geom = scene.graph[node]
            mesh = scene.geometry.get(geom)
            if isinstance(mesh, trimesh.Trimesh) and len(mesh.faces):
                parts.append(AssetPart(str(node), str(node), [Piece(mesh, np.asarray(transform, dtype=np.float64))]))
    except Exception as exc:  # noqa: BLE001 - a scene graph trimesh read but cannot walk
        detail = " ".join(str(exc).split())[:200]
        raise ZeropsError(f"{path}: cannot place the scene's nodes ({type(exc).__name__}: {detail})") from None
    return parts


def folder_parts(path: Path) -> list[AssetPart]:
    """Parts of a folder of meshes: one per mesh file (name = file stem), in name order."""
    files = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in FOLDER_EXTENSIONS)
    stems = [f.stem for f in files]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise ZeropsError(f"{path}: several mesh files share the part name(s) {', '.join(dup)}")
    cache = _MeshCache()
    return [AssetPart(f.stem, f.stem, [Piece(m, np.eye(4)) for m in cache.load(f)]) for f in files]


def read_asset(path: str | os.PathLike, by: str = "link", geometry: str = "auto") -> tuple[str, list[AssetPart]]:
    """(format, parts) of a URDF, a GLB/GLTF scene, a folder of meshes or a single mesh file."""
    p = Path(path)
    if not p.exists():
        raise ZeropsError(f"{p}: asset not found")
    if p.is_dir():
        kind, parts = "folder", folder_parts(p)
    elif check_regular(p) or p.suffix.lower() == ".urdf":
        kind, parts = "urdf", urdf_parts(p, by=by, geometry=geometry)
    elif p.suffix.lower() in SCENE_EXTENSIONS:
        kind, parts = "gltf", scene_parts(p)
    elif p.suffix.lower() in FOLDER_EXTENSIONS:
        kind, parts = "mesh", [AssetPart(p.stem, p.stem, [Piece(m, np.eye(4)) for m in _MeshCache().load(p)])]
    else:
        raise ZeropsError(f"{p}: unknown asset type; give a .urdf, .glb/.gltf, a mesh file "
                          f"({', '.join(FOLDER_EXTENSIONS)}) or a folder of meshes")
    if not parts:
        raise ZeropsError(f"{p}: no part with a triangle mesh found; nothing to convert")
    return kind, parts


# ----------------------------------------------------------------------------------------------- labels
def parse_names(spec: str | os.PathLike | None) -> list[tuple[str, str]]:
    """(pattern, class) pairs from a JSON file ``{"link": "class", ...}`` or ``"link=class,link2=class"``.

    Patterns are part (or link) names, or shell wildcards such as ``*_calf``.
    """
    if spec is None:
        return []
    text = os.fspath(spec)
    if text.lower().endswith(".json") or Path(text).is_file():
        try:
            obj = load_json(text)
        except FileNotFoundError:
            raise ZeropsError(f"--names: file {text} not found") from None
        except (OSError, ValueError) as exc:
            raise ZeropsError(f"--names: {text} is not readable JSON ({exc})") from None
        if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in obj.items()):
            raise ZeropsError(f"--names: {text} must hold a JSON object part -> class name")
        pairs = list(obj.items())
    else:
        pairs = []
        for item in (t.strip() for t in text.split(",")):
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ZeropsError(f"--names: expected 'part=class,part2=class', got {item!r}")
            pairs.append((key.strip(), value.strip()))
    if not pairs:
        raise ZeropsError("--names: no part=class pairs given")
    return [(k, v) for k, v in pairs]


def part_classes(parts: list[AssetPart], pairs: list[tuple[str, str]]) -> tuple[list[str], np.ndarray]:
    """(class names in order of first use, (P,) int64 class index per part or -1).

    A part takes the class of the first pair whose key equals its name or link, else of the first pair whose
    wildcard matches. A key that matches no part is an error (a typo would silently leave parts unlabeled).
    """
    classes: list[str] = []
    index = np.full(len(parts), -1, dtype=np.int64)
    used = set()
    for i, part in enumerate(parts):
        hit = next((k for k, (key, _) in enumerate(pairs) if key in (part.name, part.link)), None)
        if hit is None:
            hit = next((k for k, (key, _) in enumerate(pairs)
                        if fnmatch.fnmatchcase(part.name, key) or fnmatch.fnmatchcase(part.link, key)), None)
        if hit is not None:
            used.add(hit)
            cls = pairs[hit][1]
            if cls not in classes:
                classes.append(cls)
            index[i] = classes.index(cls)
    unused = [pairs[k][0] for k in range(len(pairs)) if k not in used]
    if unused:
        shown = ", ".join(p.name for p in parts[:12]) + (", ..." if len(parts) > 12 else "")
        raise ZeropsError(f"--names: {', '.join(map(repr, unused))} match(es) no part (parts: {shown})")
    return classes, index


# ----------------------------------------------------------------------------------------------- sampling
def sample_parts(parts: list[AssetPart], n_points: int, seed: int = 0,
                 **outer: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outer-surface points of the assembled parts: xyz (N, 3) float64, rgb (N, 3) float32, part (N,) int64."""
    from zerops.geometry.outersurface import sample_outer_surface
    from zerops.io.mesh import mesh_colors

    pieces = [(i, pc) for i, part in enumerate(parts) for pc in part.pieces]
    tris = [pc.triangles() for _, pc in pieces]
    offsets = np.cumsum([0] + [len(t) for t in tris])
    face, bary, xyz = sample_outer_surface(np.concatenate(tris), n_points, np.random.default_rng(seed), **outer)
    piece = np.searchsorted(offsets, face, side="right") - 1
    rgb = np.tile(GRAY, (n_points, 1))
    part = np.empty(n_points, dtype=np.int64)
    for k, (i, pc) in enumerate(pieces):
        sel = np.flatnonzero(piece == k)
        part[sel] = i
        if len(sel) == 0:
            continue
        if pc.rgb is not None:
            rgb[sel] = pc.rgb
        else:
            colors = mesh_colors(pc.mesh, face[sel] - offsets[k], bary[sel])
            if colors is not None:
                rgb[sel] = colors
    return xyz, np.clip(rgb, 0.0, 1.0).astype(np.float32), part


# ----------------------------------------------------------------------------------------------- writing
#: Largest coordinate a converted cloud may hold (float32 keeps about 7 digits: beyond this, nothing is left).
MAX_COORDINATE = 1e12


def _urdf_mesh_files(path: Path) -> list[Path]:
    """Every mesh file a URDF refers to (they may lie outside its folder: read, never written)."""
    from zerops.io.urdf import parse_urdf, resolve_mesh_path

    robot = parse_urdf(path)
    return [resolve_mesh_path(g.geometry.filename, path) for use in (robot.visuals, robot.collisions)
            for items in use.values() for g in items if g.geometry.kind == "mesh"]


def convert_asset(asset: str | os.PathLike, out: str | os.PathLike, n_points: int = 10000, seed: int = 0,
                  names: str | os.PathLike | None = None, category: str | None = None, license: str = "unknown",
                  by: str = "link", up: str = "auto", geometry: str = "auto", overwrite: bool = False,
                  **outer: Any) -> ConvertResult:
    """Convert ``asset`` into the PartNetE folder ``out`` (``<root>/<Category>/<id>``); see the module doc.

    up: the asset's up axis, y or z (auto: z for URDF, y otherwise); the output is y-up.
    ``outer`` passes n_views / resolution to :func:`zerops.geometry.outersurface.sample_outer_surface`.
    Long: load, sample, label and write in order; nothing is written when a step fails.
    """
    from zerops.io.labelfiles import write_partnete_shape

    t0 = time.perf_counter()
    out = Path(out)
    if not isinstance(n_points, (int, np.integer)) or isinstance(n_points, bool) or n_points < 1:
        raise ZeropsError(f"--points must be a positive integer, got {n_points!r}")
    if by not in ("link", "visual") or up not in ("auto", "y", "z") or geometry not in ("auto", "visual", "collision"):
        raise ZeropsError(f"bad option: by={by!r} (link|visual), up={up!r} (auto|y|z), "
                          f"geometry={geometry!r} (auto|visual|collision)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ZeropsError(f"--seed must be a whole number >= 0, got {seed!r}")
    inputs = [Path(asset)] + ([Path(names)] if names is not None and Path(names).is_file() else [])
    check_apart(out, inputs)
    if Path(asset).suffix.lower() == ".urdf" and Path(asset).is_file():
        check_apart(out, _urdf_mesh_files(Path(asset)))
    check_convert_out(out, overwrite)
    pairs = parse_names(names)
    kind, parts = read_asset(asset, by=by, geometry=geometry)
    classes, part_class = part_classes(parts, pairs)
    up_axis = ("z" if kind == "urdf" else "y") if up == "auto" else up
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # overflow is judged below, in one line
        xyz, rgb, part = sample_parts(parts, int(n_points), seed, **outer)
        if up_axis == "z":
            xyz = xyz @ Z_UP_TO_Y_UP.T
        bad = ~(np.abs(xyz.astype(np.float32)) <= MAX_COORDINATE).all(axis=1)
    if bad.any():
        raise ZeropsError(f"{asset}: {int(bad.sum())} of {len(xyz)} sampled points have infinite, NaN or absurd "
                          f"coordinates (beyond {MAX_COORDINATE:g}); check the asset's origins, scales and vertices")
    counts = np.bincount(part, minlength=len(parts))
    meta = {
        "category": category or out.absolute().parent.name,
        "part_names": classes,
        "instance_names": [p.name for p in parts],
        "instance_classes": [classes[c] if c >= 0 else None for c in part_class],
        "instance_points": counts.tolist(),
        "source": os.fspath(asset),
        "source_format": kind,
        "license": license,
        "n_points": int(n_points),
        "seed": int(seed),
        "by": by if kind == "urdf" else "node" if kind == "gltf" else "file",
        "up": up_axis,
        "converter": "zerops.io.convert",
        "converter_version": CONVERTER_VERSION,
    }
    check_convert_out(out, overwrite)
    with atomic_folder(out, None, recheck=lambda: check_convert_out(out, overwrite)) as tmp:
        write_partnete_shape(tmp, xyz.astype(np.float32), rgb, part_class[part], part, meta)
    n_colors = len(np.unique(np.round(rgb * 255.0).astype(np.uint8), axis=0))
    return ConvertResult(out, int(n_points), len(parts), int((counts > 0).sum()), n_colors,
                         time.perf_counter() - t0)
