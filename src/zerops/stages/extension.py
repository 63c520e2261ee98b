"""Self-extension (METHOD.md §3.2–3.3): the Single Viewpoint Extension (SVE) operator and its BFS schedule.

A *group* is a sorted int64 array of point indices. ``SVE(G, t)`` prompts SAM in view ``t`` with 4 points
taken from each group's visible points (3 farthest-point samples + the point nearest their centroid), keeps
the smallest candidate mask if its predicted IoU is high enough, lifts it to points, keeps the largest
DBSCAN cluster, and unions it into the group when the two share at least one point.

The segmenter is reached through a ``DecodeFn``: ``decode(view_index, prompt_points) -> (masks, scores)``
with ``prompt_points`` a list of B arrays (K_i, 2) of positive clicks in pixels (x = column, y = row),
``masks`` (B, 3, H, W) bool and ``scores`` (B, 3) float. Decodes of the same prompts in the same view
return the same result, so :class:`DecodeMemo` may answer repeats without running SAM again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from zerops.config import ExtensionConfig
from zerops.geometry.masks import Lifter, lift_mask, select_candidates  # noqa: F401 (lift_mask re-exported)
from zerops.geometry.pointops import farthest_point_sampling

DecodeFn = Callable[[int, list[np.ndarray]], tuple[np.ndarray, np.ndarray]]


def sve_prompt_points(group: np.ndarray, visible: np.ndarray, xyz: np.ndarray, n_fps: int = 3,
                      min_visible_fraction: float = 0.05, neighbors: np.ndarray | None = None,
                      interior: float = 0.0) -> np.ndarray | None:
    """The SVE prompt points of one group in one view, as point indices.

    Args:
        group: (G,) int64 point indices of the group.
        visible: (N,) bool visibility of every point in the target view.
        xyz: (N, 3) coordinates.
        neighbors, interior: with a (N, k) nearest-neighbour index array, prompts are drawn only from
            *interior* points, whose neighbours belong to the group for at least the ``interior``
            fraction (the group is skipped in this view when none qualifies). Farthest-point sampling picks
            the few foreign points a group may hold at its rim, and one prompt on a neighbouring part
            makes the mask — and the group — swallow that part.
    Returns:
        (K,) int64 point indices (up to ``n_fps`` FPS samples + 1 centroid point, duplicates removed,
        order kept), or None when the group is not visible enough in the view.
    """
    if len(group) == 0:
        return None
    g_vis = group[visible[group]]
    if len(g_vis) == 0 or len(g_vis) / len(group) < min_visible_fraction:
        return None
    if neighbors is not None and interior > 0:
        member = np.zeros(len(visible), dtype=bool)
        member[group] = True
        g_vis = g_vis[member[neighbors[g_vis]].mean(axis=1) >= interior]
        if len(g_vis) == 0:
            return None
    pts = xyz[g_vis]
    fps = g_vis[farthest_point_sampling(pts, min(n_fps, len(g_vis)))]
    centroid = g_vis[int(np.argmin(np.linalg.norm(pts - pts.mean(axis=0), axis=1)))]
    chosen = list(dict.fromkeys([*fps.tolist(), int(centroid)]))
    return np.asarray(chosen, dtype=np.int64)


def choose_smallest_confident(masks: np.ndarray, scores: np.ndarray, min_pred_iou: float,
                              rule: str = "smallest", max_area: float | None = None) -> int | None:
    """Pick one of SAM's 3 candidates, or None.

    ``smallest`` (the spec): the smallest-area candidate, rejected if its predicted IoU is below
    ``min_pred_iou``. ``smallest-confident``: the smallest among the candidates whose predicted IoU reaches
    ``min_pred_iou``. Empty candidates, and those larger than ``max_area`` pixels (whole-object masks), are
    never chosen (:func:`zerops.geometry.masks.select_candidates` with those as not allowed).

    Args:
        masks: (3, H, W) bool candidates; scores: (3,) predicted IoUs.
    """
    areas = masks.reshape(len(masks), -1).sum(axis=1)
    allowed = areas > 0
    if max_area is not None:
        allowed &= areas <= max_area
    rule = "smallest-confident" if rule == "smallest-confident" else "smallest"
    idx, ok = select_candidates(areas[None], np.asarray(scores)[None], rule, min_pred_iou, allowed[None])
    return int(idx[0]) if ok[0] else None


@dataclass
class DecodeMemo:
    """Remembers the lifted result of (view, prompt points) so exact repeats cost no SAM decode.

    A group unchanged since its last decode in a view, or the same group found from two start views,
    gives the same prompts and so the same answer; the ``fast`` preset uses this, ``paper`` does not.
    """

    results: dict[tuple[int, bytes], np.ndarray | None] = field(default_factory=dict)
    hits: int = 0

    @staticmethod
    def key(view: int, prompt: np.ndarray) -> tuple[int, bytes]:
        return view, np.ascontiguousarray(prompt, dtype=np.int64).tobytes()


@dataclass
class ExtensionStats:
    decodes: int = 0          # prompts sent to SAM
    accepted: int = 0         # masks that passed the IoU gate and the DBSCAN lift
    unions: int = 0           # accepted masks that touched their group and grew it
    memo_hits: int = 0


@dataclass
class SveTools:
    """What every SVE step of one run shares: the decoder, how a mask becomes a group (:class:`Lifter`: the
    points, DBSCAN settings, lifting margin), interior-prompt neighbours, the decode memo and the counters."""

    decode: DecodeFn
    lift: Lifter
    neighbors: np.ndarray | None = None          # (N, k) nearest neighbours, for ``config.interior_prompts``
    memo: DecodeMemo | None = None
    stats: ExtensionStats = field(default_factory=ExtensionStats)


# complexity: the SVE loop of the paper, step by step
def sve(groups: list[np.ndarray], view: int, rendered: Any, tools: SveTools,  # noqa: C901
        config: ExtensionConfig) -> tuple[list[np.ndarray], bool]:
    """One Single Viewpoint Extension of every group into ``view`` (METHOD.md §3.2).

    All groups visible enough in the view are decoded in one batch. Groups are only ever enlarged.

    Args:
        groups: list of (G_i,) int64 sorted point-index arrays (not modified).
        view: the target view's index; rendered: that view (``seen``, ``pixels``, ``radius`` and, for the
            whole-object filter, ``index_map``; e.g. a ``RenderedView``).
        tools: the run's decoder, lifter, interior-prompt neighbours, memo and counters.
    Returns:
        (new groups, whether any group grew).
    Long: the SVE step of METHOD.md §3.2 (prompt, decode, choose, lift, union) kept whole.
    """
    stats, memo, xyz = tools.stats, tools.memo, tools.lift.xyz
    visible, pixels = rendered.seen, rendered.pixels
    index_map = getattr(rendered, "index_map", None)
    object_pixels = int((index_map >= 0).sum()) if index_map is not None else None
    prompts: dict[int, np.ndarray] = {}
    for gi, g in enumerate(groups):
        p = sve_prompt_points(g, visible, xyz, config.n_fps_prompts, config.min_visible_fraction,
                              tools.neighbors, config.interior_prompts)
        if p is not None:
            prompts[gi] = p
    lifted: dict[int, np.ndarray | None] = {}
    max_area = None
    if config.max_object_fraction < 1.0 and object_pixels is not None:
        max_area = config.max_object_fraction * object_pixels
    todo = []
    for gi, p in prompts.items():
        if memo is not None and DecodeMemo.key(view, p) in memo.results:
            lifted[gi] = memo.results[DecodeMemo.key(view, p)]
            memo.hits += 1
            stats.memo_hits += 1
        else:
            todo.append(gi)
    if todo:
        masks, scores = tools.decode(view, [pixels[prompts[gi]] for gi in todo])
        stats.decodes += len(todo)
        for b, gi in enumerate(todo):
            k = choose_smallest_confident(masks[b], scores[b], config.min_pred_iou, config.mask_choice,
                                          max_area)
            result = None
            if k is not None:
                kept = tools.lift.group(masks[b, k], rendered)
                result = kept if len(kept) else None
            lifted[gi] = result
            if memo is not None:
                memo.results[DecodeMemo.key(view, prompts[gi])] = result
    out = list(groups)
    grew = False
    for gi, pts in lifted.items():
        if pts is None:
            continue
        stats.accepted += 1
        g = groups[gi]
        shared = len(np.intersect1d(g, pts, assume_unique=True))
        if shared == 0:
            continue  # union rule: no shared point, no union
        n_vis = int(visible[g].sum())
        if config.min_overlap > 0 and shared < config.min_overlap * n_vis:
            continue  # the mask misses most of the group's own visible points: another object
        if config.max_growth > 0 and len(pts) > config.max_growth * max(n_vis, 1):
            continue  # the mask is many times what the group shows here: a larger object, not this part
        new = np.union1d(g, pts)
        if len(new) > len(g):
            out[gi] = new
            grew = True
            stats.unions += 1
    return out, grew


def self_extension(groups_per_start: dict[str, list[np.ndarray]], schedule: dict[str, Sequence[str]],
                   view_index: dict[str, int], views: Sequence, tools: SveTools, config: ExtensionConfig,
                   progress: Callable[[int], None] | None = None) -> tuple[dict[str, list[np.ndarray]], ExtensionStats]:
    """Run the SVE schedule: ``config.passes`` passes × each start view × its BFS order (METHOD.md §3.3).

    Groups of different start views evolve independently. With ``config.stop_when_stable`` (``fast`` preset)
    a start view's later passes are skipped once a whole pass grew none of its groups.

    Args:
        groups_per_start: start view name → its initial groups.
        schedule: start view name → the ordered target view names (``views.extension_order``).
        view_index: view name → index into ``views`` (``RenderedView``-like objects, see :func:`sve`).
        tools: decoder, lifter, neighbours, memo; its ``stats`` are returned.
        progress: called with the number of SVE steps done since the last call.
    """
    groups = {s: list(g) for s, g in groups_per_start.items()}
    stable = {s: False for s in groups}
    for _ in range(config.passes):
        for s in groups:
            if stable[s] and config.stop_when_stable:
                if progress:
                    progress(len(schedule[s]))
                continue
            grew_any = False
            for t in schedule[s]:
                groups[s], grew = sve(groups[s], view_index[t], views[view_index[t]], tools, config)
                grew_any |= grew
                if progress:
                    progress(1)
            stable[s] = not grew_any
    return groups, tools.stats
