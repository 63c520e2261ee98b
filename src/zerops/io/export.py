"""Exporting a result folder's parts (``zerops export``): per-part point clouds and labelled meshes.

* ``ply``: one colored point cloud per part (class, instance): ``export/part_<k>[_<name>].ply``.
* ``glb`` / ``obj`` (mesh input): every face of the input mesh takes the label of the nearest labelled result
  point to its centroid (:func:`label_mesh_faces`); written as ``export/labelled.glb`` (one scene node per part,
  named ``<class>_<k>`` or ``part_<k>``, colored with the part color) or ``export/labelled.obj`` + ``.mtl``
  (one ``o`` object and material per part), plus one mesh per part ``export/part_<k>[_<name>].<fmt>``.

The result's points are in the input mesh's frame (zerops never moves the input), so the transfer is a direct
nearest-neighbour lookup. Nothing is written before every check passed; files are written atomically, and an
``export/`` folder this call created is removed again if writing fails.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zerops.arrays import check_labels, check_points
from zerops.errors import ZeropsError
from zerops.io.files import atomic_path
from zerops.io.palette import UNLABELED_GRAY, part_palette
from zerops.io.ply import ply_bytes
from zerops.io.resultdir import GROUPINGS, Entry, ResultDir, load_result, safe_name

FORMATS = ("ply", "glb", "obj")
POINT_CLOUD_MESSAGE = "the result came from a point cloud; use --format ply or give --mesh"


# ----------------------------------------------------------------------------------------------- labelling
def label_mesh_faces(mesh: Any, xyz: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(F,) int64 label per face of ``mesh``: the label of the labelled point (label >= 0) nearest to the face's
    centroid. Points labelled −1 are ignored; every face is −1 only when no point is labelled."""
    from scipy.spatial import cKDTree

    faces = np.asarray(mesh.faces, dtype=np.int64)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    xyz = check_points(xyz, dtype=np.float64, what="label_mesh_faces points")
    labels = check_labels(labels, len(xyz), what="label_mesh_faces labels")
    out = np.full(len(faces), -1, dtype=np.int64)
    keep = labels >= 0
    if not keep.any() or len(faces) == 0:
        return out
    centroids = vertices[faces].mean(axis=1)
    _, idx = cKDTree(xyz[keep]).query(centroids, k=1)
    out[:] = labels[keep][idx]
    return out


# ----------------------------------------------------------------------------------------------- helpers
def _stem(by: str, e: Entry) -> str:
    """File stem of an entry: part_<k>[_<class>], semantic_<c>_<class>, instance_<i>[_<class>]."""
    return f"{by}_{e.id}" + (f"_{safe_name(e.cls)}" if e.cls else "")


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        seen.setdefault(n, 0)
        out.append(n)
    return out


def _color(e_id: int) -> np.ndarray:
    return part_palette(e_id + 1)[e_id]


def resolve_mesh_path(result: ResultDir, mesh: str | os.PathLike | None) -> Path:
    """The mesh file to label: ``mesh`` when given, else the result's recorded input (tried as given, then
    relative to the result folder and to its parent)."""
    if mesh is not None:
        p = Path(mesh)
        if not p.is_file():
            raise ZeropsError(f"{p}: mesh file not found")
        return p
    src = result.source
    if not src:
        raise ZeropsError(f"{result.path}: summary.json does not record the input; give --mesh PATH "
                          "or use --format ply")
    p = Path(src)
    candidates = [p] if p.is_absolute() else [p, result.path / p, result.path.parent / p]
    for c in candidates:
        if c.is_file():
            return c
    raise ZeropsError(f"the result's input '{src}' was not found (a relative path is relative to where "
                      "`zerops segment` ran); give --mesh PATH or use --format ply")


def _load_mesh(result: ResultDir, mesh: Any) -> Any:
    """A trimesh.Trimesh for ``mesh`` (a Trimesh, a path, or None for the recorded input)."""
    if mesh is not None and type(mesh).__module__.startswith("trimesh"):
        import trimesh

        if isinstance(mesh, trimesh.Scene):
            from zerops.io.mesh import cloud_from_trimesh

            return cloud_from_trimesh(mesh, n_points=64).mesh
        if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
            raise ZeropsError("mesh must be a trimesh.Trimesh or Scene with faces")
        return mesh
    from zerops.io import readers
    from zerops.io.load import load_cloud

    path = resolve_mesh_path(result, mesh)
    ext = path.suffix.lower()
    if ext in readers.CLOUD_EXTENSIONS and ext != ".ply":
        if mesh is not None:
            raise ZeropsError(f"{path}: is a point cloud file; "
                              "--mesh needs a mesh (obj, glb, gltf, ply with faces, ...)")
        raise ZeropsError(POINT_CLOUD_MESSAGE)
    cloud = load_cloud(path, n_points=64, seed=0)       # only the mesh is used
    if cloud.mesh is None:
        if mesh is not None:
            raise ZeropsError(f"{path}: has no faces; --mesh needs a mesh (obj, glb, gltf, ply with faces, ...)")
        raise ZeropsError(POINT_CLOUD_MESSAGE)
    return cloud.mesh


def _check_frame(mesh: Any, result: ResultDir) -> None:
    """Refuse a mesh that does not lie where the result's points are (another object, another frame)."""
    from scipy.spatial import cKDTree

    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    centroids = vertices[np.asarray(mesh.faces, dtype=np.int64)].mean(axis=1)
    sample = centroids[:: max(1, len(centroids) // 20000)]
    dist, _ = cKDTree(result.xyz.astype(np.float64)).query(sample, k=1)
    size = float(np.linalg.norm(np.ptp(result.xyz.astype(np.float64), axis=0)))
    if size > 0 and float(np.median(dist)) > 0.2 * size:
        raise ZeropsError(f"the mesh does not line up with the result's points (median face distance "
                          f"{float(np.median(dist)):.3g}, object size {size:.3g}); is it the mesh that was segmented?")


def _submesh(mesh: Any, face_ids: np.ndarray, name: str, color: np.ndarray, fmt: str) -> Any:
    import trimesh
    from trimesh.visual import TextureVisuals
    from trimesh.visual.material import PBRMaterial, SimpleMaterial

    faces = np.asarray(mesh.faces, dtype=np.int64)[face_ids]
    used, inverse = np.unique(faces.reshape(-1), return_inverse=True)
    part = trimesh.Trimesh(vertices=np.asarray(mesh.vertices, dtype=np.float64)[used],
                           faces=inverse.reshape(-1, 3), process=False)
    rgba = [int(color[0]), int(color[1]), int(color[2]), 255]
    material = (PBRMaterial(name=name, baseColorFactor=rgba, metallicFactor=0.0, roughnessFactor=0.8)
                if fmt == "glb" else SimpleMaterial(name=name, diffuse=rgba))
    part.visual = TextureVisuals(material=material)
    part.metadata["name"] = name
    return part


def _scene_bytes(meshes: list[tuple[str, Any]], fmt: str, stem: str) -> dict[str, bytes]:
    """{file name: bytes} of a scene holding ``meshes`` (name, Trimesh) as a GLB or an OBJ + MTL."""
    import trimesh

    scene = trimesh.Scene()
    for name, m in meshes:
        scene.add_geometry(m, node_name=name, geom_name=name)
    if fmt == "glb":
        return {f"{stem}.glb": scene.export(file_type="glb")}
    from trimesh.exchange.obj import export_obj

    text, files = export_obj(scene, return_texture=True, mtl_name=f"{stem}.mtl", header="written by zerops",
                             include_normals=False)
    for name, _ in meshes:                 # each object also a group, for tools that read only `g`
        text = text.replace(f"\no {name}\n", f"\no {name}\ng {name}\n", 1)
    out = {f"{stem}.obj": text.encode("utf-8")}
    out.update({k: bytes(v) for k, v in files.items()})
    return out


# ----------------------------------------------------------------------------------------------- export
def export_parts(result_dir: str | os.PathLike | ResultDir, fmt: str, mesh: Any = None, by: str = "part") -> list[Path]:
    """Write the parts of a result folder under ``<result_dir>/export/`` and return the written paths.

    Args:
        result_dir: a result folder (or a loaded :class:`~zerops.io.resultdir.ResultDir`).
        fmt: ``ply`` (per-part point clouds), ``glb`` or ``obj`` (labelled mesh + per-part meshes; needs a mesh).
        mesh: the mesh to label (path or trimesh object); default: the input recorded in summary.json.
        by: group by ``part`` (default), ``semantic`` class or ``instance`` (the last two need named parts).
    """
    if fmt not in FORMATS:
        raise ZeropsError(f"unknown export format '{fmt}'; use one of {', '.join(FORMATS)}")
    if by not in GROUPINGS:
        raise ZeropsError(f"unknown grouping '{by}'; use one of {', '.join(GROUPINGS)}")
    result = result_dir if isinstance(result_dir, ResultDir) else load_result(result_dir)
    labels = result.labels(by)
    entries = result.entries(by)
    if not (labels >= 0).any():
        raise ZeropsError(f"{result.path}: no point has a {by} label; nothing to export")
    stems = _unique([_stem(by, e) for e in entries])
    nodes = _unique([e.label for e in entries])
    files: dict[str, bytes] = {}
    if fmt == "ply":
        extra = {k: v for k, v in (("part", result.part), ("semantic", result.semantic),
                                   ("instance", result.instance)) if v is not None}
        for e, stem in zip(entries, stems):
            sel = np.flatnonzero(labels == e.id)
            if sel.size == 0:
                continue
            rgb = np.tile(_color(e.id), (sel.size, 1))
            files[f"{stem}.ply"] = ply_bytes(result.xyz[sel], rgb, **{k: v[sel] for k, v in extra.items()})
    else:
        tri = _load_mesh(result, mesh)
        _check_frame(tri, result)
        face_labels = label_mesh_faces(tri, result.xyz, labels)
        meshes: list[tuple[str, Any]] = []
        for e, stem, node in zip(entries, stems, nodes):
            ids = np.flatnonzero(face_labels == e.id)
            if ids.size == 0:
                continue
            piece = _submesh(tri, ids, node, _color(e.id), fmt)
            meshes.append((node, piece))
            files.update(_scene_bytes([(node, piece)], fmt, stem))
        rest = np.flatnonzero(face_labels < 0)
        if rest.size:
            meshes.append(("unassigned", _submesh(tri, rest, "unassigned", UNLABELED_GRAY, fmt)))
        files.update(_scene_bytes(meshes, fmt, "labelled"))
    return _write_files(result.path / "export", files, stale=f"{by}_[0-9]*", fmt=fmt)


def _write_files(folder: Path, files: dict[str, bytes], stale: str, fmt: str) -> list[Path]:
    """Write ``files`` into ``folder`` atomically; remove earlier exports of the same kind that this one does not
    replace; remove ``folder`` again if this call created it and writing failed."""
    from zerops.io.outdir import OWN_INSIDE, foreign_entries

    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise ZeropsError(f"{folder} is {'a symbolic link' if folder.is_symlink() else 'not a folder'}; zerops "
                          "writes its exports only into a folder of its own: move it away")
    foreign = foreign_entries(folder, OWN_INSIDE["export"]) if folder.exists() else []
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ZeropsError(f"{folder} holds files zerops did not write ({shown}); nothing exported: move them away")
    created = not folder.exists()
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            with atomic_path(folder / name) as tmp:
                tmp.write_bytes(data)
            written.append(folder / name)
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    suffixes = {f".{fmt}"} | ({".mtl"} if fmt == "obj" else set())
    for old in folder.glob(stale):
        if old.suffix in suffixes and old.name not in files:
            with contextlib.suppress(OSError):
                old.unlink()
    return written
