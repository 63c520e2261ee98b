"""An object under construction: labelled primitives plus material slots."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zerops.eval.synthetic.primitives import Primitive, tube


@dataclass(frozen=True)
class Part:
    """A labelled part instance: semantic index into the category's part names and instance id."""

    semantic: int
    instance: int


NO_PART = Part(-1, -1)


@dataclass
class Assembly:
    """Primitives with labels; ``slots`` maps material slot -> allowed material families."""

    category: str
    part_names: list[str]
    prims: list[Primitive] = field(default_factory=list)
    slots: dict[str, tuple[str, ...]] = field(default_factory=dict)
    n_instances: int = 0

    def part(self, name: str) -> Part:
        """A new instance of the part class ``name`` (must be one of ``part_names``)."""
        inst = Part(self.part_names.index(name), self.n_instances)
        self.n_instances += 1
        return inst

    def slot(self, name: str, *families: str) -> str:
        """Declare a material slot (first declaration wins) and return its name."""
        self.slots.setdefault(name, tuple(families))
        return name

    def add(self, prim: Primitive, part: Part = NO_PART, material: str = "body") -> Primitive:
        if material not in self.slots:
            raise KeyError(f"material slot {material!r} not declared")
        prim.semantic, prim.instance, prim.material = part.semantic, part.instance, material
        self.prims.append(prim)
        return prim

    def instance_counts(self) -> dict[str, int]:
        """Number of distinct instances per part class present in the primitives."""
        seen: dict[str, set[int]] = {n: set() for n in self.part_names}
        for p in self.prims:
            if p.semantic >= 0:
                seen[self.part_names[p.semantic]].add(p.instance)
        return {k: len(v) for k, v in seen.items()}


def bar_handle(center, length: float, axis, out, rng: np.random.Generator, standoff: float | None = None,
               radius: float | None = None) -> Primitive:
    """U-shaped bar handle: a tube of ``length`` along ``axis`` held ``standoff`` in front (direction ``out``)
    of the surface point ``center``; the feet reach 5 mm into the surface."""
    axis = np.asarray(axis, dtype=np.float64)
    out = np.asarray(out, dtype=np.float64)
    c = np.asarray(center, dtype=np.float64)
    so = standoff if standoff is not None else rng.uniform(0.02, 0.04)
    r = radius if radius is not None else rng.uniform(0.005, 0.009)
    h = 0.5 * length
    pts = [c - h * axis - 0.005 * out, c - h * axis + so * out, c + h * axis + so * out, c + h * axis - 0.005 * out]
    path = round_corners(np.array(pts), min(0.6 * so, 0.25 * length))
    return tube(path, r)


def round_corners(pts: np.ndarray, rad: float, n: int = 5) -> np.ndarray:
    """Polyline with interior corners replaced by short quadratic fillets."""
    out = [pts[0]]
    for i in range(1, len(pts) - 1):
        a, b, c = pts[i - 1], pts[i], pts[i + 1]
        da = (a - b) / np.linalg.norm(a - b)
        dc = (c - b) / np.linalg.norm(c - b)
        p0, p2 = b + rad * da, b + rad * dc
        t = np.linspace(0, 1, n)[:, None]
        out.extend((1 - t) ** 2 * p0 + 2 * (1 - t) * t * b + t ** 2 * p2)
    out.append(pts[-1])
    return np.array(out)
