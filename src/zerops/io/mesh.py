"""Meshes to point clouds: load with trimesh, flatten scenes, sample the surface area-uniformly.

Colors come from (in order) texture images sampled at the interpolated UVs, material colors,
per-vertex colors (interpolated) or per-face colors. A mesh without any color information gives
``rgb=None``. Normals are the normals of the faces the points were sampled from.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.cloud import PointCloud, make_cloud
from zerops.io.files import load_json
from zerops.limits import MAX_TEXTURE_PIXELS, check_points

MESH_EXTENSIONS = (".obj", ".glb", ".gltf", ".stl", ".off", ".dae", ".3mf")


def _regular_file_resolver(p: Path, refused: list[str]) -> Any:
    """A trimesh resolver for the files ``p`` names (an OBJ's ``mtllib``, an MTL's ``map_Kd``, a glTF's buffer
    and image URIs) that opens only regular files: a named pipe or a device is refused before it is opened
    (it would block the read or never end); the refusal is recorded in ``refused`` (trimesh swallows some)."""
    from trimesh.resolvers import FilePathResolver

    from zerops.io.files import read_regular

    class RegularFileResolver(FilePathResolver):
        def get(self, name: str) -> bytes:
            text = str(name).strip()
            for candidate in dict.fromkeys((text, text.lstrip("/"), os.path.split(text)[-1])):
                try:
                    path = self.absolute(candidate) if hasattr(self, "absolute") else \
                        Path(self.parent, candidate)
                except ValueError:                  # trimesh >= 5: outside the asset's folder
                    continue
                if path.exists():
                    try:
                        return read_regular(path, f"named in {p}")
                    except ZeropsError as exc:
                        refused.append(str(exc))
                        raise
            return super().get(name)

        def namespaced(self, namespace: str) -> Any:
            inner = RegularFileResolver(os.path.join(self.parent, namespace))
            inner.__dict__.update({k: v for k, v in self.__dict__.items() if k == "allow_anywhere"})
            return inner

    return RegularFileResolver(str(p))


@contextlib.contextmanager
def texture_guard(p: Path) -> Iterator[Any]:
    """While trimesh reads ``p``: every image it opens has its size checked from the header (PIL opens lazily)
    and one over MAX_TEXTURE_PIXELS is refused before a pixel is decoded; the refusal is one ZeropsError.
    Yields the resolver to pass to trimesh (``resolver=``): the files ``p`` names must be regular files."""
    from PIL import Image

    from zerops.io.files import check_regular

    check_regular(p)
    specials: list[str] = []
    resolver = _regular_file_resolver(p, specials)
    refused: list[tuple[int, int]] = []
    check = Image._decompression_bomb_check          # PIL's own size hook, called by Image.open

    def guard(size: tuple[int, int], *args: Any, **kwargs: Any) -> None:
        if int(size[0]) * int(size[1]) > MAX_TEXTURE_PIXELS:
            refused.append((int(size[0]), int(size[1])))
            raise Image.DecompressionBombError(f"image of {size[0]} x {size[1]} pixels")
        check(size, *args, **kwargs)

    Image._decompression_bomb_check = guard
    try:
        yield resolver
    finally:
        Image._decompression_bomb_check = check
    if specials:
        raise ZeropsError(specials[0])
    if refused:
        w, h = refused[0]
        raise ZeropsError(f"{p}: a texture image is {w:,} × {h:,} pixels; zerops reads textures of at most "
                          f"{MAX_TEXTURE_PIXELS:,} pixels (8192 × 8192); shrink it or drop it from the material")


def load_mesh_cloud(path: str | os.PathLike, n_points: int = 10000, seed: int = 0) -> PointCloud:
    """Load a mesh file (any trimesh format, scenes flattened with their transforms) and sample it."""
    import trimesh

    p = Path(path)
    n_points = check_points(n_points, "n_points (--points)")
    check_container(p)
    try:
        with warnings.catch_warnings(), texture_guard(p) as resolver:   # numeric warnings of a malformed file:
            warnings.simplefilter("ignore")                             # the checks below speak
            if hasattr(trimesh, "load_scene"):
                scene = trimesh.load_scene(str(p), resolver=resolver)
            else:  # trimesh < 4.5
                scene = trimesh.load(str(p), force="scene", resolver=resolver)
            meshes = _flatten(scene)
    except ZeropsError:
        raise
    except Exception as exc:  # noqa: BLE001 - trimesh raises many types for malformed files
        raise ZeropsError(f"{p}: cannot read mesh ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    meshes = [m for m in meshes if len(m.faces) > 0]
    if not meshes:
        _explain_no_faces(p)
        raise ZeropsError(f"{p}: the mesh has no faces; give a mesh with triangles or a point-cloud file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sample_meshes(meshes, n_points, seed=seed, source=str(p))
    except (ValueError, IndexError, TypeError) as exc:    # malformed geometry trimesh let through
        raise ZeropsError(f"{p}: cannot sample the mesh ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:160]})") from None


def check_container(p: Path) -> None:
    """Checks trimesh does not make itself: a .gltf must be JSON, a .glb must start with its signature, a
    binary .stl must hold the triangles its header declares."""
    from zerops.io.files import check_regular

    check_regular(p)
    ext = p.suffix.lower()
    try:
        if ext == ".gltf":
            try:
                doc = load_json(p, encoding="utf-8-sig")
            except (UnicodeDecodeError, ValueError) as exc:
                raise ZeropsError(f"{p}: not a glTF file (invalid JSON: {' '.join(str(exc).split())[:160]})") from None
            if not isinstance(doc, dict):
                raise ZeropsError(f"{p}: not a glTF file (expected a JSON object, got {type(doc).__name__})")
            check_gltf_nodes(doc, p)
        elif ext == ".glb":
            with open(p, "rb") as fh:
                head = fh.read(20)
                if head[:4] != b"glTF":
                    raise ZeropsError(f"{p}: not a binary glTF file (it does not start with 'glTF')")
                if len(head) == 20 and head[16:20] == b"JSON":
                    doc = _glb_json(fh, int.from_bytes(head[12:16], "little"), p)
                    if isinstance(doc, dict):
                        check_gltf_nodes(doc, p)
        elif ext == ".stl":
            size = p.stat().st_size
            with open(p, "rb") as fh:
                head = fh.read(84)
            if len(head) == 84 and not head.lstrip().lower().startswith(b"solid"):
                declared = int.from_bytes(head[80:84], "little")
                held = (size - 84) // 50
                if 84 + 50 * declared != size:
                    raise ZeropsError(f"{p}: the binary STL header declares {declared} triangles but the file "
                                      f"holds {held}" + (" and a partial one" if (size - 84) % 50 else ""))
    except OSError as exc:
        raise ZeropsError(f"{p}: cannot read ({exc.strerror or exc})") from None


def _glb_json(fh: Any, length: int, p: Path) -> Any:
    """The JSON chunk of a .glb (``fh`` just after the chunk header), bounded as every JSON zerops reads."""
    import json

    from zerops.io.files import MAX_JSON_BYTES, MAX_JSON_DEPTH, json_depth

    if length > MAX_JSON_BYTES:
        raise ZeropsError(f"{p}: the glTF JSON chunk declares {length:,} bytes; zerops reads at most "
                          f"{MAX_JSON_BYTES:,}")
    data = fh.read(length)
    if json_depth(data) > MAX_JSON_DEPTH:
        raise ZeropsError(f"{p}: the glTF JSON is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ZeropsError(f"{p}: not a glTF file (invalid JSON: {' '.join(str(exc).split())[:160]})") from None


def check_gltf_nodes(doc: dict, p: Path) -> None:
    """The glTF node hierarchy must be a forest (the spec's rule): every child index names a node, no node is
    its own child or the child of two nodes, and no chain of children comes back to where it started (a cycle
    sends trimesh's transform walk round until its iteration limit)."""
    nodes = doc.get("nodes", [])
    if not isinstance(nodes, list):
        raise ZeropsError(f"{p}: glTF 'nodes' must be a list, got {type(nodes).__name__}")
    parent: dict[int, int] = {}
    for i, node in enumerate(nodes):
        children = node.get("children", []) if isinstance(node, dict) else []
        if not isinstance(children, list):
            raise ZeropsError(f"{p}: glTF node {i}'s 'children' must be a list of node indices")
        for c in children:
            if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < len(nodes):
                raise ZeropsError(f"{p}: glTF node {i} names the child {c!r}, which is not a node index "
                                  f"(0..{len(nodes) - 1})")
            if c == i or c in parent:
                why = "its own child" if c == i else f"a child of both node {parent[c]} and node {i}"
                raise ZeropsError(f"{p}: glTF node {c} is {why}; glTF nodes must form a tree")
            parent[c] = i
    done: set[int] = set()
    for start in parent:
        path, seen, node = [], set(), start
        while node in parent and node not in done:
            if node in seen:
                raise ZeropsError(f"{p}: the glTF nodes {' -> '.join(map(str, path[path.index(node):] + [node]))} "
                                  "form a cycle; glTF nodes must form a tree")
            path.append(node)
            seen.add(node)
            node = parent[node]
        done.update(path)


def _explain_no_faces(p: Path) -> None:
    """A mesh file that gave no faces: say whether it is empty, has non-finite vertices or could not be parsed."""
    import trimesh

    try:
        if p.stat().st_size == 0:
            raise ZeropsError(f"{p}: the file is empty")
        raw = trimesh.load(str(p), process=False, resolver=_regular_file_resolver(p, []))
        geoms = list(raw.geometry.values()) if isinstance(raw, trimesh.Scene) else [raw]
        vertices = np.concatenate([np.asarray(getattr(g, "vertices", np.zeros((0, 3))), dtype=np.float64)
                                   .reshape(-1, 3) for g in geoms] or [np.zeros((0, 3))])
    except ZeropsError:
        raise
    except Exception:  # noqa: BLE001 - the explanation is best effort
        return
    if vertices.size and not np.isfinite(vertices).all():
        bad = int((~np.isfinite(vertices).all(axis=1)).sum())
        raise ZeropsError(f"{p}: {bad} of {len(vertices)} vertices have NaN or infinite coordinates; "
                          "the faces that use them were dropped and none remain")
    if vertices.size == 0:
        raise ZeropsError(f"{p}: no vertices or faces could be read; the file is truncated, corrupt or not a "
                          f"{p.suffix.lstrip('.').upper()} mesh")


def _flatten(obj: Any) -> list:
    import trimesh

    if isinstance(obj, trimesh.Scene):
        return [g for g in obj.dump(concatenate=False) if isinstance(g, trimesh.Trimesh)]
    if isinstance(obj, trimesh.Trimesh):
        return [obj]
    return []


def cloud_from_trimesh(obj: Any, n_points: int = 10000, seed: int = 0, source: str | None = None) -> PointCloud:
    """Sample a ``trimesh.Trimesh`` / ``trimesh.Scene`` (or wrap a ``trimesh.PointCloud``)."""
    import trimesh

    where = f"{source}: " if source else ""
    if isinstance(obj, trimesh.PointCloud):
        colors = getattr(obj, "colors", None)
        rgb = None
        if colors is not None and len(colors) == len(obj.vertices) and len(colors):
            rgb = np.asarray(colors)[:, :3].astype(np.float32) / 255.0
        return make_cloud(np.asarray(obj.vertices), rgb, None, source=source)
    n_points = check_points(n_points, f"{where}n_points (--points)")
    meshes = [m for m in _flatten(obj) if len(m.faces) > 0]
    if not meshes:
        raise ZeropsError(f"{where}the mesh has no faces; give a mesh with triangles or a point-cloud file")
    return sample_meshes(meshes, int(n_points), seed=seed, source=source)


def _triangles(mesh: Any) -> np.ndarray:
    return np.asarray(mesh.vertices, dtype=np.float64)[np.asarray(mesh.faces, dtype=np.int64)]


def sample_meshes(meshes: list, n_points: int, seed: int = 0, source: str | None = None) -> PointCloud:
    """Area-uniform sampling of ``n_points`` over all faces of ``meshes`` (world frame).

    Returns a cloud whose ``face_index`` indexes the faces of ``cloud.mesh`` (all meshes concatenated).
    """
    import trimesh

    where = f"{source}: " if source else ""
    tris = [_triangles(m) for m in meshes]
    all_tris = np.concatenate(tris, axis=0)
    cross = np.cross(all_tris[:, 1] - all_tris[:, 0], all_tris[:, 2] - all_tris[:, 0])
    dbl_area = np.linalg.norm(cross, axis=1)
    if not np.isfinite(all_tris).all():
        raise ZeropsError(f"{where}the mesh has NaN or infinite vertex coordinates")
    total = float(dbl_area.sum())
    if total <= 0.0:
        raise ZeropsError(f"{where}the mesh has zero surface area; nothing to sample")
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(dbl_area) / total
    face = np.minimum(np.searchsorted(cdf, rng.random(n_points), side="right"), len(cdf) - 1)
    uv = rng.random((n_points, 2))
    flip = uv.sum(axis=1) > 1.0
    uv[flip] = 1.0 - uv[flip]
    bary = np.column_stack([1.0 - uv.sum(axis=1), uv[:, 0], uv[:, 1]])
    xyz = np.einsum("nk,nkd->nd", bary, all_tris[face])
    normals = cross[face] / np.maximum(dbl_area[face], 1e-300)[:, None]

    offsets = np.cumsum([0] + [len(t) for t in tris])
    per_mesh = [mesh_colors(m, face[(face >= a) & (face < b)] - a, bary[(face >= a) & (face < b)])
                for m, a, b in zip(meshes, offsets[:-1], offsets[1:])]
    rgb = None
    if any(c is not None for c in per_mesh):
        # in a scene where only some meshes carry colors, the others are shown mid-gray
        rgb = np.full((n_points, 3), 0.5, dtype=np.float32)
        for c, a, b in zip(per_mesh, offsets[:-1], offsets[1:]):
            if c is not None:
                rgb[(face >= a) & (face < b)] = c
    if len(meshes) == 1:
        mesh = meshes[0]
    else:
        vert_offsets = np.cumsum([0] + [len(m.vertices) for m in meshes])
        mesh = trimesh.Trimesh(
            vertices=np.concatenate([np.asarray(m.vertices) for m in meshes]),
            faces=np.concatenate([np.asarray(m.faces) + o for m, o in zip(meshes, vert_offsets[:-1])]),
            process=False,
        )
    return make_cloud(xyz, rgb, normals, source=source, face_index=face.astype(np.int64), mesh=mesh)


# ----------------------------------------------------------------------------------------------- colors


def _rgba01(color: Any) -> np.ndarray | None:
    if color is None:
        return None
    c = np.asarray(color, dtype=np.float64).reshape(-1)
    if c.size < 3:
        return None
    if np.issubdtype(np.asarray(color).dtype, np.integer) or c.max() > 1.0:
        c = c / 255.0
    return np.clip(c[:3], 0.0, 1.0)


def _sample_image(image: Any, uv: np.ndarray) -> np.ndarray:
    """Nearest-texel lookup of a PIL image at (M,2) UVs (repeat wrapping, v up) -> (M,3) float in [0,1].

    The image's size is read from its header (PIL opens lazily) and checked against MAX_TEXTURE_PIXELS
    before a single pixel is decoded; the texels are looked up in 8 bits."""
    size = getattr(image, "size", None)
    w, h = (int(size[0]), int(size[1])) if isinstance(size, tuple) else np.shape(image)[1::-1]
    if w * h > MAX_TEXTURE_PIXELS:
        info = getattr(image, "info", None) or {}
        name = info.get("file_path") or getattr(image, "filename", "") or "a texture image"
        raise ZeropsError(f"{name}: the texture is {w:,} × {h:,} pixels; zerops samples textures of at most "
                          f"{MAX_TEXTURE_PIXELS:,} pixels (8192 × 8192); shrink it or drop it from the material")
    img = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, dtype=np.uint8)[..., :3]
    h, w = img.shape[:2]
    u = np.mod(uv[:, 0], 1.0)
    v = np.mod(uv[:, 1], 1.0)
    col = np.clip(np.floor(u * w).astype(np.int64), 0, w - 1)
    row = np.clip(np.floor((1.0 - v) * h).astype(np.int64), 0, h - 1)
    return img[row, col].astype(np.float32) / 255.0


def mesh_colors(mesh: Any, faces: np.ndarray, bary: np.ndarray) -> np.ndarray | None:
    """(M,3) float colors for points on ``faces`` with barycentric weights ``bary``, or None."""
    visual = mesh.visual
    kind = getattr(visual, "kind", None)
    tri = np.asarray(mesh.faces, dtype=np.int64)[faces]
    if kind == "texture":
        material = getattr(visual, "material", None)
        image, factor = None, None
        if material is not None:
            if hasattr(material, "baseColorTexture"):  # PBR (glTF)
                image = material.baseColorTexture
                factor = _rgba01(material.baseColorFactor)
            else:  # simple (OBJ/MTL)
                image = getattr(material, "image", None)
                factor = None if image is not None else _rgba01(getattr(material, "diffuse", None))
        uv = getattr(visual, "uv", None)
        if image is not None and uv is not None and len(uv) == len(mesh.vertices):
            uvs = np.einsum("mk,mkd->md", bary, np.asarray(uv, dtype=np.float64)[tri])
            colors = _sample_image(image, uvs)
            return colors * factor[None, :] if factor is not None else colors
        if factor is not None:
            return np.tile(factor.astype(np.float32), (len(faces), 1))
        return None
    if kind == "vertex":
        vc = np.asarray(visual.vertex_colors, dtype=np.float64)[:, :3] / 255.0
        return np.einsum("mk,mkd->md", bary, vc[tri])
    if kind == "face":
        fc = np.asarray(visual.face_colors, dtype=np.float64)[:, :3] / 255.0
        return fc[faces]
    return None
