"""URDF robots as posed part meshes: links, joints, visuals, materials and the kinematic tree.

Joints are taken at zero position, so a link's pose is the product of the joint origins from the root down
(``world <- parent <- child``). An origin is ``xyz`` plus fixed-axis roll-pitch-yaw: ``R = Rz(yaw) Ry(pitch)
Rx(roll)``. A visual's pose is ``link pose @ visual origin``; a mesh's ``scale`` is applied in the visual frame
before the origin. Geometry: meshes (any format trimesh reads: STL, OBJ + MTL, DAE with pycollada, ...) and
the primitives box, cylinder, sphere and capsule (a pybullet extension), all centred on the visual frame with
cylinders and capsules along its z axis. Unexpanded xacro ``$(optenv NAME default)`` values take their default.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zerops.errors import ZeropsError

PRIMITIVES = ("box", "cylinder", "sphere", "capsule")
PRIMITIVE_SECTIONS = 48   # facets around cylinders, capsules and spheres
_OPTENV = re.compile(r"\s*\$\(optenv\s+\S+\s*(.*?)\)\s*")


@dataclass
class Geometry:
    """One visual's shape: ``kind`` in mesh/box/cylinder/sphere/capsule.

    size: box (x, y, z); cylinder and capsule (radius, length); sphere (radius,); mesh ().
    filename: the mesh reference as written in the URDF; scale: (3,) mesh scale.
    """

    kind: str
    size: tuple[float, ...] = ()
    filename: str | None = None
    scale: np.ndarray = field(default_factory=lambda: np.ones(3))


@dataclass
class Visual:
    """A visual (or collision) element of a link: geometry, pose in the link frame, optional color."""

    link: str
    index: int                    # position among the link's visuals
    name: str | None
    geometry: Geometry
    origin: np.ndarray            # (4, 4) link <- visual
    rgba: np.ndarray | None       # (4,) in [0, 1], or None when the URDF gives no color


@dataclass
class Joint:
    name: str
    parent: str
    child: str
    origin: np.ndarray            # (4, 4) parent link <- child link at zero position


@dataclass
class Robot:
    """A parsed URDF: links in document order, their visuals and collisions, and the joints."""

    name: str
    path: Path
    links: list[str]
    visuals: dict[str, list[Visual]]
    collisions: dict[str, list[Visual]]
    joints: list[Joint]


def rpy_matrix(rpy: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of fixed-axis roll-pitch-yaw angles (radians): Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    r, p, y = (float(a) for a in rpy)
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


#: Largest absolute origin offset, mesh scale and primitive size (metres or factors) a URDF may give; beyond it
#: coordinates stop being meaningful (and overflow float32 in the written cloud).
MAX_URDF_VALUE = 1e6


def _floats(text: str | None, n: int, where: str, default: float = 0.0,
            limit: float | None = MAX_URDF_VALUE) -> np.ndarray:
    if text is None:
        return np.full(n, default, dtype=np.float64)
    leftover = _OPTENV.fullmatch(text)   # an unexpanded xacro "$(optenv NAME default)": take the default
    if leftover:
        text = leftover.group(1)
    try:
        vals = np.array([float(t) for t in text.replace(",", " ").split()], dtype=np.float64)
    except ValueError:
        raise ZeropsError(f"{where}: expected {n} numbers, got {text!r}") from None
    if vals.size != n or not np.isfinite(vals).all():
        raise ZeropsError(f"{where}: expected {n} finite numbers, got {text!r}")
    if limit is not None and np.abs(vals).max(initial=0.0) > limit:
        raise ZeropsError(f"{where}: {text.strip()!r} is out of range; zerops takes values of at most {limit:g} "
                          "in magnitude")
    return vals


def origin_matrix(elem: ET.Element | None, where: str) -> np.ndarray:
    """(4, 4) transform of an ``<origin xyz rpy>`` element (identity when absent)."""
    m = np.eye(4)
    if elem is not None:
        m[:3, :3] = rpy_matrix(_floats(elem.get("rpy"), 3, f"{where} origin rpy"))
        m[:3, 3] = _floats(elem.get("xyz"), 3, f"{where} origin xyz")
    return m


def _rgba(material: ET.Element | None, named: dict[str, np.ndarray], where: str) -> np.ndarray | None:
    if material is None:
        return None
    color = material.find("color")
    if color is not None and color.get("rgba") is not None:
        return np.clip(_floats(color.get("rgba"), 4, f"{where} material color", limit=None), 0.0, 1.0)
    return named.get(material.get("name") or "")


def _named_materials(root: ET.Element, path: Path) -> dict[str, np.ndarray]:
    """Colors of named materials: robot-level definitions win over ones defined inside a visual."""
    named: dict[str, np.ndarray] = {}
    inline = [m for link in root.findall("link") for v in link.findall("visual") for m in v.findall("material")]
    for mat in inline + root.findall("material"):
        color = mat.find("color")
        if mat.get("name") and color is not None and color.get("rgba") is not None:
            named[mat.get("name")] = np.clip(_floats(color.get("rgba"), 4, f"{path}: material "
                                                     f"{mat.get('name')!r} color"), 0.0, 1.0)
    return named


def _geometry(elem: ET.Element | None, where: str) -> Geometry:
    shape = None if elem is None else next(iter(elem), None)
    if shape is None:
        raise ZeropsError(f"{where}: <geometry> has no shape")
    tag = shape.tag
    if tag == "mesh":
        if not shape.get("filename"):
            raise ZeropsError(f"{where}: <mesh> has no filename")
        scale = shape.get("scale")
        if scale is not None and len(scale.replace(",", " ").split()) == 1:   # scale="2": uniform
            scale = " ".join([scale.strip()] * 3)
        return Geometry("mesh", (), shape.get("filename"), _floats(scale, 3, f"{where} mesh scale", 1.0))
    attrs = {"box": ("size",), "cylinder": ("radius", "length"), "capsule": ("radius", "length"),
             "sphere": ("radius",)}.get(tag)
    if attrs is None:
        raise ZeropsError(f"{where}: unsupported geometry <{tag}> (mesh, box, cylinder, sphere, capsule)")
    for a in attrs:
        if shape.get(a) is None:
            raise ZeropsError(f"{where}: <{tag}> has no {a}")
    size = np.concatenate([_floats(shape.get(a), 3 if a == "size" else 1, f"{where} {tag} {a}") for a in attrs])
    if (size < 0).any():
        raise ZeropsError(f"{where}: <{tag}> sizes must be non-negative, got {size.tolist()}")
    return Geometry(tag, tuple(float(s) for s in size))


def parse_urdf(path: str | os.PathLike) -> Robot:
    """Read a URDF file into a :class:`Robot` (no mesh is loaded yet)."""
    p = Path(path)
    try:   # trailing NUL bytes (C-string leftovers, e.g. in pybullet's humanoid.urdf) are ignored
        root = ET.fromstring(p.read_bytes().rstrip(b"\x00 \t\r\n"))
    except FileNotFoundError:
        raise ZeropsError(f"{p}: file not found") from None
    except (ET.ParseError, OSError, UnicodeDecodeError) as exc:
        raise ZeropsError(f"{p}: not a readable URDF ({exc})") from None
    if root.tag != "robot":
        raise ZeropsError(f"{p}: not a URDF (the root element is <{root.tag}>, expected <robot>)")
    named = _named_materials(root, p)
    links: list[str] = []
    visuals: dict[str, list[Visual]] = {}
    collisions: dict[str, list[Visual]] = {}
    for link in root.findall("link"):
        name = link.get("name")
        if not name:
            raise ZeropsError(f"{p}: a <link> has no name")
        if name in visuals:
            raise ZeropsError(f"{p}: link {name!r} is defined twice")
        links.append(name)
        for kind, store in (("visual", visuals), ("collision", collisions)):
            items = []
            for k, v in enumerate(link.findall(kind)):
                where = f"{p}: link {name!r} {kind} {k}"
                items.append(Visual(name, k, v.get("name"), _geometry(v.find("geometry"), where),
                                    origin_matrix(v.find("origin"), where), _rgba(v.find("material"), named, where)))
            store[name] = items
    joints = []
    for j in root.findall("joint"):
        where = f"{p}: joint {j.get('name')!r}"
        parent, child = j.find("parent"), j.find("child")
        if parent is None or child is None or not parent.get("link") or not child.get("link"):
            raise ZeropsError(f"{where}: needs <parent link=...> and <child link=...>")
        for end in (parent.get("link"), child.get("link")):
            if end not in visuals:
                raise ZeropsError(f"{where}: refers to the unknown link {end!r}")
        joints.append(Joint(j.get("name") or "", parent.get("link"), child.get("link"),
                            origin_matrix(j.find("origin"), where)))
    if not links:
        raise ZeropsError(f"{p}: the URDF has no links")
    return Robot(root.get("name") or p.stem, p, links, visuals, collisions, joints)


def link_poses(robot: Robot) -> dict[str, np.ndarray]:
    """(4, 4) world <- link pose of every link, all joints at zero position.

    Raises ZeropsError for a link with two parents, several root links or a joint cycle.
    """
    parent_of: dict[str, Joint] = {}
    for j in robot.joints:
        if j.child in parent_of:
            raise ZeropsError(f"{robot.path}: link {j.child!r} has two parents ({parent_of[j.child].parent!r} "
                              f"and {j.parent!r}); a URDF is a tree")
        parent_of[j.child] = j
    roots = [name for name in robot.links if name not in parent_of]
    if not roots:
        raise ZeropsError(f"{robot.path}: the joints form a cycle (every link has a parent)")
    if len(roots) > 1:
        raise ZeropsError(f"{robot.path}: {len(roots)} root links ({', '.join(roots[:5])}); a URDF has one root "
                          "and every other link is the child of a joint")
    children: dict[str, list[Joint]] = {}
    for j in robot.joints:
        children.setdefault(j.parent, []).append(j)
    poses = {roots[0]: np.eye(4)}
    stack = [roots[0]]
    while stack:
        name = stack.pop()
        for j in children.get(name, []):
            poses[j.child] = poses[name] @ j.origin
            stack.append(j.child)
    missing = [name for name in robot.links if name not in poses]
    if missing:
        raise ZeropsError(f"{robot.path}: the joints form a cycle through link(s) {', '.join(missing[:5])}")
    return poses


def resolve_mesh_path(filename: str, urdf_path: Path) -> Path:
    """The file a URDF mesh reference points to.

    ``package://pkg/rest``: ``<A>/pkg/rest`` for the URDF's folder and each folder above it (A), then
    ``<A>/rest`` likewise. ``file://`` and plain paths: absolute, or relative to the URDF's folder.
    """
    base = urdf_path.resolve().parent
    if filename.startswith("package://"):
        rest = filename[len("package://"):]
        pkg, _, tail = rest.partition("/")
        ancestors = [base, *base.parents]
        tried = [a / pkg / tail for a in ancestors] + [a / tail for a in ancestors]
        for cand in tried:
            if cand.is_file():
                return cand
        raise ZeropsError(f"{urdf_path}: mesh {filename!r} not found (searched for a folder {pkg!r} in "
                          f"{base} and the folders above it)")
    name = filename[len("file://"):] if filename.startswith("file://") else filename
    cand = Path(name) if os.path.isabs(name) else base / name
    if not cand.is_file():
        if cand.exists() and not cand.is_dir():             # a named pipe, a device, a socket
            from zerops.io.files import check_regular

            check_regular(cand, f"named in {urdf_path}")
        raise ZeropsError(f"{urdf_path}: mesh file {filename!r} not found ({cand})")
    return cand


def primitive_mesh(geometry: Geometry):
    """A trimesh.Trimesh of a box, cylinder, sphere or capsule in its visual frame (z axis = cylinder axis)."""
    import trimesh

    kind, size = geometry.kind, geometry.size
    if kind == "box":
        return trimesh.creation.box(extents=size)
    if kind == "cylinder":
        return trimesh.creation.cylinder(radius=size[0], height=size[1], sections=PRIMITIVE_SECTIONS)
    if kind == "capsule":
        return trimesh.creation.capsule(height=size[1], radius=size[0], count=[PRIMITIVE_SECTIONS, PRIMITIVE_SECTIONS])
    if kind == "sphere":
        return trimesh.creation.uv_sphere(radius=size[0], count=[PRIMITIVE_SECTIONS // 2, PRIMITIVE_SECTIONS])
    raise ZeropsError(f"not a primitive: {kind}")
