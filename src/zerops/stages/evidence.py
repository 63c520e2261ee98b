"""Multi-view SAM evidence: every decoded mask, kept as the set of points it covers, weighed by SAM's score.

The ZeroPS stages decode many masks (the initial groups' single-point prompts in the start views, the SVE
prompts in every view) and keep few of them. As evidence for the superpoint graph every candidate above one
score floor (``graph.mask_min_score``, applied here for every segmenter and every decode) counts, with its
predicted IoU as weight instead of a hard threshold: a large mask is evidence too (of which superpoints
belong together), not an error.

:class:`MaskEvidence` records masks per view as point sets (bit-packed): a seen point is in a mask when most
of the pixels it wins in the view (where it is the front-most point) are, and by its centre pixel when it
wins none (``graph.lift_won_pixels``; off: always by the centre pixel). :meth:`MaskEvidence.table` unpacks
them once into the :class:`EvidenceTable` every graph stage reads. :func:`superpoint_evidence` turns them
into per-superpoint coverage fractions, and :func:`edge_affinity` into one number per superpoint-graph edge:
the score-weighted soft Jaccard index of the two superpoints' memberships over the masks of views that see
both (1: always in the same masks; 0: never together).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from zerops.geometry.masks import pack_rows, unpack_rows


@dataclass(frozen=True)
class EvidenceTable:
    """The unpacked evidence every graph stage reads (:meth:`MaskEvidence.table`, computed once per record).

    Attributes:
        view_ids: (V,) the views with a seen set, ascending; seen: (V, N) bool their seen points;
        seen_count: (V,) int64 seen points per view. members: (M, N) bool mask × point membership;
        size: (M,) int64 points per mask; view_row: (M,) int64 every mask's row in ``view_ids``.
    """

    view_ids: np.ndarray
    seen: np.ndarray
    seen_count: np.ndarray
    members: np.ndarray
    size: np.ndarray
    view_row: np.ndarray


@dataclass
class MaskEvidence:
    """Decoded masks as point sets. ``n_points``: N of the cloud the views were rendered from.

    Attributes:
        views: per mask, the view index; scores: per mask, SAM's predicted IoU; sources: per mask, the
            stage that decoded it (``groups``, ``extension`` …); prompts: per mask, the prompt set that
            decoded it (the candidates of one prompt share the id; ids count up over the whole record).
        members: per mask, the bit-packed (N,) bool set of covered seen points.
        seen: view index → bit-packed (N,) bool of the points on that view's visible surface.
    """

    n_points: int
    views: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    members: list[np.ndarray] = field(default_factory=list)
    seen: dict[int, np.ndarray] = field(default_factory=dict)
    prompts: list[int] = field(default_factory=list)
    n_prompts: int = 0
    _table: tuple[tuple[int, int], EvidenceTable] | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.scores)

    def add_view_masks(self, view: int, masks: np.ndarray, scores: np.ndarray, rendered: Any, source: str, *,
                       min_score: float, won_pixels: bool) -> None:
        """Record every non-empty candidate of one decode call whose predicted IoU is above ``min_score``.

        Args:
            view: the view index. masks: (B, C, H, W) bool candidates; scores: (B, C) predicted IoUs.
            source: the stage that decoded them (``groups``, ``extension``).
            min_score: the evidence floor (``graph.mask_min_score``): candidates scoring <= this are not kept
                (the prompt still counts: prompt ids stay those of the decode calls).
            rendered: the view (``RenderedView``-like): ``seen`` (N,) bool visible-surface points, ``pixels``
                (N, 2) their (col, row) projections and, optionally, ``index_map``.
            won_pixels: with the view's ``index_map`` ((H, W) front-most point of every pixel), a point that is
                front-most somewhere is in a mask when most of the pixels it wins are: near a part boundary
                a neighbour's splat often covers a point's centre pixel, so the centre alone mislabels it
                (5–15 % of the seen points of sparse clouds). Points that win no pixel use their centre.
        """
        masks = np.asarray(masks)
        if masks.size == 0:
            return
        b, c, h, w = masks.shape
        pixel = evidence_pixels(rendered, (h, w), won_pixels)
        self.add_view_pixels(view, masks.reshape(b, c, h * w)[:, :, pixel], pixel, (h, w), scores, rendered, source,
                             min_score=min_score, won_pixels=won_pixels)

    def add_view_pixels(self, view: int, values: np.ndarray, pixel: np.ndarray, hw: tuple[int, int],
                        scores: np.ndarray, rendered: Any, source: str, *, min_score: float, won_pixels: bool) -> None:
        """:meth:`add_view_masks` from the candidates read at the view's evidence pixels only.

        Args:
            values: (B, C, P) bool candidates at ``pixel`` (P,) sorted flat pixel indices of the (H, W) = ``hw``
                view, which hold its :func:`evidence_pixels` (others are ignored). The rest as
                :meth:`add_view_masks`.
        """
        seen, pixels = rendered.seen, rendered.pixels
        index_map = getattr(rendered, "index_map", None) if won_pixels else None
        b, c, n_pix = np.shape(values)
        if b == 0:
            return
        first = self.n_prompts
        self.n_prompts += b
        idx = np.flatnonzero(seen)
        if view not in self.seen:
            self.seen[view] = pack_rows(seen)
        if len(idx) == 0:
            return
        h, w = hw
        pixel = np.asarray(pixel, dtype=np.int64)
        flat = np.asarray(values, dtype=bool).reshape(b * c, n_pix)
        inside = flat[:, _positions(pixel, _centre_pixels(pixels[idx], h, w))]        # (B*C, n_seen)
        if index_map is not None:
            front = np.asarray(index_map).reshape(-1)[pixel]
            inside = _won_pixel_majority(flat, front, idx, inside)
        flat_scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        for j in np.flatnonzero((inside.sum(axis=1) >= 1) & (flat_scores > min_score)):
            full = np.zeros(self.n_points, dtype=bool)
            full[idx[inside[j]]] = True
            self.members.append(pack_rows(full))
            self.views.append(int(view))
            self.scores.append(float(flat_scores[j]))
            self.sources.append(source)
            self.prompts.append(first + int(j) // c)

    def table(self) -> EvidenceTable:
        """The unpacked :class:`EvidenceTable` of the masks recorded so far (kept until more are recorded)."""
        key = (len(self), len(self.seen))
        if self._table is None or self._table[0] != key:
            view_ids, seen = self.seen_matrix()
            row = {int(v): i for i, v in enumerate(view_ids)}
            members = self.member_matrix()
            self._table = (key, EvidenceTable(view_ids, seen, seen.sum(axis=1), members, members.sum(axis=1),
                                              np.asarray([row[v] for v in self.views], dtype=np.int64)))
        return self._table[1]

    def member_matrix(self) -> np.ndarray:
        """(M, N) bool: mask × point membership."""
        return unpack_rows(self.members, self.n_points)

    def seen_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(V,) view indices and (V, N) bool seen points of the views with masks."""
        keys = sorted(self.seen)
        if not keys:
            return np.zeros(0, np.int64), np.zeros((0, self.n_points), dtype=bool)
        return np.asarray(keys), unpack_rows([self.seen[k] for k in keys], self.n_points)


def evidence_pixels(rendered: Any, hw: tuple[int, int], won_pixels: bool) -> np.ndarray:
    """(P,) sorted flat indices of the pixels :meth:`MaskEvidence.add_view_pixels` reads in an (H, W) view: the
    centre pixels of its seen points and, with ``won_pixels`` and an ``index_map``, every pixel a point wins."""
    h, w = hw
    index_map = getattr(rendered, "index_map", None) if won_pixels else None
    read = np.asarray(index_map).reshape(-1) >= 0 if index_map is not None else np.zeros(h * w, dtype=bool)
    read[_centre_pixels(rendered.pixels[np.flatnonzero(rendered.seen)], h, w)] = True
    return np.flatnonzero(read)


def _centre_pixels(pixels: np.ndarray, h: int, w: int) -> np.ndarray:
    """(n,) flat index of the pixel holding each (col, row) projection, clipped to the view."""
    cols = np.clip(pixels[:, 0].astype(np.int64), 0, w - 1)
    rows = np.clip(pixels[:, 1].astype(np.int64), 0, h - 1)
    return rows * w + cols


def _positions(pixel: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` lies in the sorted ``pixel``, or a one-line error when one is missing."""
    pos = np.minimum(np.searchsorted(pixel, wanted), max(len(pixel) - 1, 0))
    if len(wanted) and (len(pixel) == 0 or not np.array_equal(pixel[pos], wanted)):
        raise ValueError("the candidates were not read at every evidence pixel of the view (evidence_pixels)")
    return pos


def _won_pixel_majority(masks: np.ndarray, front: np.ndarray, idx: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """(M, n) membership of the points ``idx`` in (M, P) flat masks: for points front-most in some pixel of
    ``front`` ((P,) point per pixel, −1 none), more than half of those pixels inside the mask; else ``inside``."""
    fg = np.flatnonzero(front >= 0)
    pos = np.full(int(front.max()) + 1 if len(fg) else 0, -1, dtype=np.int64)
    pos[idx[idx < len(pos)]] = np.flatnonzero(idx < len(pos))
    col = pos[front[fg]]
    ok = col >= 0
    fg, col = fg[ok], col[ok]
    if not len(fg):
        return inside
    won = csr_matrix((np.ones(len(fg), np.float32), (np.arange(len(fg)), col)), shape=(len(fg), len(idx)))
    counts = (won.T @ masks[:, fg].T.astype(np.float32)).T                          # (M, n)
    total = np.bincount(col, minlength=len(idx)).astype(np.float32)
    wins = total > 0
    return np.where(wins[None, :], counts > 0.5 * total[None, :], inside)


def superpoint_evidence(ev: MaskEvidence, label: np.ndarray, n_super: int,
                        min_seen: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per mask and superpoint: coverage and visibility.

    Args:
        label: (N,) int64 superpoint of every point; n_super: S.
        min_seen: a superpoint counts as visible in a view when at least this many of its points are seen
            (or all of them, for smaller superpoints; ``graph.evidence_min_seen``).
    Returns:
        F (M, S) float32 share of the superpoint's seen points inside the mask, V (M, S) bool visibility,
        w (M,) float64 mask weights (SAM's predicted IoU).
    """
    n = len(label)
    onehot = csr_matrix((np.ones(n, np.float32), (np.arange(n), label)), shape=(n, n_super))
    sizes = np.bincount(label, minlength=n_super)
    table = ev.table()
    seen_counts = np.asarray((csr_matrix(table.seen.astype(np.float32)) @ onehot).todense())   # (V, S)
    visible = seen_counts >= np.minimum(min_seen, sizes)[None, :]
    visible &= seen_counts > 0
    inside = np.asarray((csr_matrix(table.members.astype(np.float32)) @ onehot).todense())     # (M, S)
    m_rows = table.view_row
    F = (inside / np.maximum(seen_counts[m_rows], 1)).astype(np.float32)
    V = visible[m_rows]
    return F, V, np.asarray(ev.scores, dtype=np.float64)


def edge_affinity(F: np.ndarray, V: np.ndarray, w: np.ndarray, edges: np.ndarray,
                  power: float) -> tuple[np.ndarray, np.ndarray]:
    """Soft co-membership of adjacent superpoints.

    For edge (a, b), over the masks m whose view sees both: ``sum w_m min(F_ma, F_mb) /
    sum w_m max(F_ma, F_mb)``. Masks covering neither do not count.

    Args:
        F, V: (M, S) coverage and visibility (:func:`superpoint_evidence`); w: (M,) weights.
        edges: (E, 2) superpoint pairs. power: weights are ``w ** power`` (``graph.affinity_power``).
    Returns:
        affinity (E,) in [0, 1] (NaN where no mask touches either superpoint) and support (E,): the weight of
        the masks that touch one of them.
    """
    if len(edges) == 0 or F.shape[0] == 0:
        return np.full(len(edges), np.nan), np.zeros(len(edges))
    a, b = edges[:, 0], edges[:, 1]
    ww = (np.asarray(w, dtype=np.float64) ** power)[:, None]
    both = V[:, a] & V[:, b]                                         # (M, E)
    fa, fb = F[:, a], F[:, b]
    co = (ww * (np.minimum(fa, fb) * both)).sum(axis=0)
    un = (ww * (np.maximum(fa, fb) * both)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        aff = np.where(un > 0, co / np.maximum(un, 1e-12), np.nan)
    return aff, un


def pack_evidence(ev: MaskEvidence, prefix: str = "ev_") -> dict[str, np.ndarray]:
    """Flat arrays for an npz (the stage cache); inverse :func:`unpack_evidence`."""
    nbytes = (ev.n_points + 7) // 8
    keys = sorted(ev.seen)
    return {f"{prefix}n": np.int64(ev.n_points),
            f"{prefix}members": np.stack(ev.members) if ev.members else np.zeros((0, nbytes), np.uint8),
            f"{prefix}views": np.asarray(ev.views, dtype=np.int64),
            f"{prefix}scores": np.asarray(ev.scores, dtype=np.float64),
            f"{prefix}sources": np.asarray(ev.sources, dtype=str),
            f"{prefix}prompts": np.asarray(ev.prompts, dtype=np.int64),
            f"{prefix}seen_views": np.asarray(keys, dtype=np.int64),
            f"{prefix}seen": np.stack([ev.seen[k] for k in keys]) if keys else np.zeros((0, nbytes), np.uint8)}


def unpack_evidence(arrays, prefix: str = "ev_") -> MaskEvidence | None:
    """The :class:`MaskEvidence` stored by :func:`pack_evidence`, or None when ``arrays`` holds none."""
    if f"{prefix}n" not in arrays:
        return None
    prompts = ([int(p) for p in arrays[f"{prefix}prompts"]] if f"{prefix}prompts" in arrays
               else list(range(len(arrays[f"{prefix}scores"]))))
    return MaskEvidence(prompts=prompts, n_prompts=max(prompts, default=-1) + 1,
                        n_points=int(arrays[f"{prefix}n"]), views=[int(v) for v in arrays[f"{prefix}views"]],
                        scores=[float(s) for s in arrays[f"{prefix}scores"]],
                        sources=[str(s) for s in arrays[f"{prefix}sources"]],
                        members=list(np.asarray(arrays[f"{prefix}members"])),
                        seen={int(k): v for k, v in zip(arrays[f"{prefix}seen_views"], arrays[f"{prefix}seen"])})
