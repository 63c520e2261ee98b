"""Camera view layouts: named views, their adjacency graph, start views and extension order (METHOD.md §2, §3.3).

Angles are in degrees with PyTorch3D's conventions: the camera sits at
``dist * (cos(elev) sin(azim), sin(elev), cos(elev) cos(azim))`` and looks at the origin with +Y up.

Layouts:

* ``zerops20`` — the 20 ZeroPS views: 8 cube corners ``v0..v7`` (the start views) and 12 edge midpoints
  ``va_b``. Each corner is adjacent to its 3 incident edges, each edge to its 2 corners; neighbours are
  listed in name order, which makes :func:`extension_order` reproduce the spec's list for ``v0``.
* ``partslip10`` — the 10 PartSLIP views ``p0..p9`` in the spec's order (§2.2).
* custom — any list of ``(elev, azim)`` pairs, views named ``c0, c1, ...``.

For ``partslip10`` and custom layouts each view is adjacent to its 3 angularly nearest views (the angle
between camera directions; ties by index), the relation is made symmetric, and the edges of the angular
minimum spanning tree are added so that the graph is connected and every view is reachable from every
start. Neighbours are listed by increasing angle. Start views are chosen like ZeroPS's 8 of 20: the first
``ceil(0.4 * V)`` views of a farthest-point ordering of the camera directions that begins at view 0
(for ``partslip10``: p0, p8, p3, p1 — four well-spread views).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from zerops.config import RenderConfig
from zerops.errors import ZeropsError

LAYOUT_NAMES = ("zerops20", "partslip10")

# (name, elev, azim) in the order of the spec's table (§2.1).
_ZEROPS20 = (
    ("v0", 35, -35), ("v0_1", 35, 10), ("v1", 35, 55), ("v1_2", 35, 100),
    ("v2", 35, 145), ("v2_3", 35, 190), ("v3", 35, 235), ("v0_3", 35, 280),
    ("v0_5", -10, -35), ("v1_6", -10, 55), ("v2_7", -10, 145), ("v3_4", -10, 235),
    ("v5", -55, -35), ("v5_6", -55, 10), ("v6", -55, 55), ("v6_7", -55, 100),
    ("v7", -55, 145), ("v4_7", -55, 190), ("v4", -55, 235), ("v4_5", -55, 280),
)

# (elev, azim) of PartSLIP's 10 views (§2.2).
_PARTSLIP10 = (
    (10, 0), (10, 90), (10, 180), (10, 270), (40, 0), (40, 120), (40, 240), (-20, 60), (-20, 180), (-20, 300),
)



@dataclass(frozen=True)
class ViewSpec:
    """One camera: a name and its elevation / azimuth in degrees."""

    name: str
    elev: float
    azim: float


@dataclass(frozen=True)
class ViewLayout:
    """A set of views with the adjacency graph used by self-extension and the start views."""

    name: str
    views: tuple[ViewSpec, ...]
    adjacency: dict[str, tuple[str, ...]]
    start_views: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.views)

    def view(self, name: str) -> ViewSpec:
        """The view called ``name``."""
        for v in self.views:
            if v.name == name:
                return v
        raise ZeropsError(f"layout '{self.name}' has no view '{name}'; its views are {', '.join(self.names)}")


def view_direction(elev: float | np.ndarray, azim: float | np.ndarray) -> np.ndarray:
    """Unit vector(s) from the origin towards the camera: (..., 3) float64."""
    e, a = np.radians(elev), np.radians(azim)
    return np.stack([np.cos(e) * np.sin(a), np.sin(e), np.cos(e) * np.cos(a)], axis=-1)


def _zerops20() -> ViewLayout:
    views = tuple(ViewSpec(n, float(e), float(a)) for n, e, a in _ZEROPS20)
    names = [v.name for v in views]
    adj: dict[str, list[str]] = {n: [] for n in names}
    for n in names:
        if "_" in n:
            a, b = n[1:].split("_")
            for corner in (f"v{a}", f"v{b}"):
                adj[n].append(corner)
                adj[corner].append(n)
    adjacency = {n: tuple(sorted(adj[n])) for n in names}
    starts = tuple(f"v{i}" for i in range(8))
    return ViewLayout("zerops20", views, adjacency, starts)


def _angular_layout(name: str, angles: Sequence[tuple[float, float]], prefix: str, neighbors: int,
                    start_fraction: float) -> ViewLayout:
    """Views at ``angles``; each adjacent to its ``neighbors`` nearest by angle and along an angular spanning
    tree; ``start_fraction`` of them, farthest-first, are start views."""
    views = tuple(ViewSpec(f"{prefix}{i}", float(e), float(a)) for i, (e, a) in enumerate(angles))
    n = len(views)
    dirs = view_direction(np.array([v.elev for v in views]), np.array([v.azim for v in views]))
    ang = np.arccos(np.clip(dirs @ dirs.T, -1.0, 1.0))
    np.fill_diagonal(ang, np.inf)
    linked = np.zeros((n, n), dtype=bool)
    for i in range(n):
        order = np.lexsort((np.arange(n), ang[i]))  # by angle, ties by index
        linked[i, order[: min(neighbors, n - 1)]] = True
    # Prim's minimum spanning tree on the angles, so the graph is connected.
    in_tree = np.zeros(n, dtype=bool)
    in_tree[0] = True
    best = ang[0].copy()
    parent = np.zeros(n, dtype=np.int64)
    for _ in range(n - 1):
        cand = np.where(in_tree, np.inf, best)
        j = int(np.argmin(cand))
        linked[j, parent[j]] = True
        in_tree[j] = True
        closer = ang[j] < best
        best = np.where(closer, ang[j], best)
        parent = np.where(closer, j, parent)
    linked |= linked.T
    np.fill_diagonal(linked, False)
    adjacency = {}
    for i in range(n):
        nb = np.flatnonzero(linked[i])
        nb = nb[np.lexsort((nb, ang[i, nb]))]
        adjacency[views[i].name] = tuple(views[j].name for j in nb)
    n_start = max(1, math.ceil(start_fraction * n))
    starts = _farthest_directions(dirs, n_start)
    return ViewLayout(name, views, adjacency, tuple(views[i].name for i in starts))


def _farthest_directions(dirs: np.ndarray, k: int) -> list[int]:
    """Greedy farthest-point order of unit vectors by angle, starting at index 0 (ties by index)."""
    chosen = [0]
    min_ang = np.arccos(np.clip(dirs @ dirs[0], -1.0, 1.0))
    while len(chosen) < k:
        j = int(np.argmax(min_ang))
        chosen.append(j)
        min_ang = np.minimum(min_ang, np.arccos(np.clip(dirs @ dirs[j], -1.0, 1.0)))
    return chosen


def _parse_angles(spec: Sequence) -> list[tuple[float, float]]:
    try:
        arr = np.asarray(spec, dtype=np.float64)
    except (TypeError, ValueError):
        raise ZeropsError("custom views must be a list of (elev, azim) pairs in degrees") from None
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise ZeropsError(f"custom views must be a non-empty list of (elev, azim) pairs, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ZeropsError("custom view angles must be finite numbers")
    if (np.abs(arr[:, 0]) >= 90.0).any():
        raise ZeropsError("view elevation must be strictly between -90 and 90 degrees (the camera's up is +Y)")
    return [(float(e), float(a)) for e, a in arr]


def get_layout(spec: "str | ViewLayout | Sequence[tuple[float, float]]",
               neighbors: int = RenderConfig.view_neighbors,
               start_fraction: float = RenderConfig.start_fraction) -> ViewLayout:
    """A view layout: ``"zerops20"``, ``"partslip10"``, an existing :class:`ViewLayout`, or (elev, azim) pairs.
    ``neighbors`` / ``start_fraction``: adjacency and start views of the angular layouts (not ``zerops20``)."""
    if isinstance(spec, ViewLayout):
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key == "zerops20":
            return _zerops20()
        if key == "partslip10":
            return _angular_layout("partslip10", _PARTSLIP10, "p", neighbors, start_fraction)
        raise ZeropsError(f"unknown view layout '{spec}'; use one of {', '.join(LAYOUT_NAMES)} or (elev, azim) pairs")
    return _angular_layout("custom", _parse_angles(spec), "c", neighbors, start_fraction)


def extension_order(layout: "ViewLayout | str", start: str) -> list[str]:
    """Breadth-first order of all other views from ``start`` over the adjacency graph (METHOD.md §3.3).

    Neighbours are visited in the order of ``layout.adjacency``. Every view in the result is adjacent to one
    earlier in the list or to ``start``. Views unreachable from ``start`` (impossible for built-in layouts)
    are left out.
    """
    lay = get_layout(layout)
    if start not in lay.adjacency:
        raise ZeropsError(f"layout '{lay.name}' has no view '{start}'; its views are {', '.join(lay.names)}")
    seen = {start}
    order: list[str] = []
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        for nb in lay.adjacency[cur]:
            if nb not in seen:
                seen.add(nb)
                order.append(nb)
                queue.append(nb)
    return order
