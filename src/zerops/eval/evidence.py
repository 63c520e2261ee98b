"""What the merge consumes, scored against the ground truth (``make bench-evidence``).

The merge reads SAM's decoded candidates as point sets (:class:`~zerops.stages.evidence.MaskEvidence`) and,
in the default preset, each view's partition (:func:`~zerops.stages.votemerge.view_partitions`). This module
scores those against the ground-truth instances, apart from any merging:

- **recall**: per view and visible part with a prompt on it, the best point IoU of any candidate of that view
  with the part (``prompted_share``: the share of visible parts that have a prompt on them);
- **choice**: per prompt, the point IoU with the part under the prompt of the candidate the default rule keeps
  (:func:`~zerops.stages.votemerge.prompt_choice`: the smallest with predicted IoU ≥ ``min_score``, or the
  largest below the whole object where the object's prompts mostly answer the whole object; 0 when none is
  confident) beside the best of its three;
- **partition**: per view, the precision and recall of "same segment" against "same part" over the points the
  partition labels, and the share of points it labels;
- **view error**: over point pairs (k-NN neighbours), how often a view that labels both points is wrong about
  whether they are one part (*true*; ``split_rate`` among the pairs of one part, ``merge_rate`` among the
  pairs across two parts), beside what the disagreement between views estimates (as
  :func:`~zerops.stages.votemerge.view_error_rate` does for clusters): systematic mistakes that every view
  repeats raise the true rate but not the estimate.

Only the points a view *shows* (front-most in at least one pixel) count, so an oracle's perfect masks score
exactly 1 (recall, choice, precision) and 0 (merging errors).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from zerops.config import GraphConfig
from zerops.geometry.pointops import knn
from zerops.segmenters import PromptSet
from zerops.segmenters.choice import choose_candidates
from zerops.stages.evidence import MaskEvidence
from zerops.stages.votemerge import prompt_choice, view_partitions

__all__ = ["EvidenceScores", "decode_shape", "grid_prompts", "knn_pairs", "rule_scores", "score_evidence",
           "score_shape", "shown_points"]


def knn_pairs(xyz: np.ndarray, k: int = 8) -> np.ndarray:
    """(N k, 2) int64 pairs of every point with each of its ``k`` nearest neighbours."""
    _, idx = knn(np.asarray(xyz, dtype=np.float32), k)
    k = idx.shape[1]
    return np.stack([np.repeat(np.arange(len(idx)), k), idx.reshape(-1)], axis=1).astype(np.int64)


def shown_points(index_map: np.ndarray, n_points: int) -> np.ndarray:
    """(N,) bool: the points front-most in at least one pixel of a view's (H, W) ``index_map`` (−1: none)."""
    out = np.zeros(n_points, dtype=bool)
    idx = np.asarray(index_map).reshape(-1)
    out[idx[idx >= 0]] = True
    return out


@dataclass
class EvidenceScores:
    """Accumulated over shapes: the per-item lists and pair counts behind :meth:`summary`."""

    part_prompted: list[bool] = field(default_factory=list)   # per (view, visible part): a prompt is on it
    part_best: list[float] = field(default_factory=list)      # per (view, visible part prompted)
    prompt_best: list[float] = field(default_factory=list)    # per prompt on a labelled part
    prompt_chosen: list[float] = field(default_factory=list)  # the default rule's pick (0: none confident)
    prompt_confident: list[bool] = field(default_factory=list)
    same_both: float = 0.0         # point pairs in one segment and one part (over the views' labelled points)
    same_segment: float = 0.0
    same_part: float = 0.0
    labelled: int = 0
    shown: int = 0
    votes: int = 0                 # (pair, view) votes on k-NN pairs
    wrong_votes: int = 0
    same_votes: int = 0            # votes on pairs of one part …
    split_votes: int = 0           # … that put them apart
    cross_votes: int = 0           # votes on pairs of two parts …
    merge_votes: int = 0           # … that put them together
    view_pairs: float = 0.0        # for the estimate: view pairs voting on one point pair …
    disagreeing: float = 0.0       # … and those that disagree

    def summary(self) -> dict[str, float | int | None]:
        """The table row: means and shares rounded to 3 digits (None where nothing was measured)."""
        def mean(x):
            return round(float(np.mean(x)), 3) if len(x) else None

        def ratio(a, b):
            return round(float(a / b), 3) if b else None

        d = self.disagreeing / self.view_pairs if self.view_pairs else None
        estimate = None if d is None else round(float((1 - np.sqrt(max(1 - 2 * min(d, 0.5), 0.0))) / 2), 3)
        return {"parts": len(self.part_prompted), "prompted_share": mean(self.part_prompted),
                "recall_mean_iou": mean(self.part_best),
                "recall_at_0.5": mean(np.asarray(self.part_best) >= 0.5) if self.part_best else None,
                "prompts": len(self.prompt_best), "best_of_three_iou": mean(self.prompt_best),
                "chosen_iou": mean(self.prompt_chosen), "confident_share": mean(self.prompt_confident),
                "pair_precision": ratio(self.same_both, self.same_segment),
                "pair_recall": ratio(self.same_both, self.same_part),
                "labelled_share": ratio(self.labelled, self.shown),
                "true_view_error": ratio(self.wrong_votes, self.votes),
                "split_rate": ratio(self.split_votes, self.same_votes),
                "merge_rate": ratio(self.merge_votes, self.cross_votes),
                "estimated_view_error": estimate}


def _pairs_in(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Point pairs in one label, one truth and both, over (n,) label / truth ids."""
    def pairs(ids):
        _, counts = np.unique(ids, return_counts=True)
        return float((counts * (counts - 1) / 2).sum())
    joint = labels.astype(np.int64) * (int(truth.max()) + 1 if len(truth) else 1) + truth
    return pairs(labels), pairs(truth), pairs(joint)


def score_evidence(ev: MaskEvidence, prompt_part: np.ndarray, prompt_view: np.ndarray, instance: np.ndarray,
                   shown: dict[int, np.ndarray], pairs: np.ndarray, scores: EvidenceScores, graph: GraphConfig,
                   min_part_points: int = 10) -> EvidenceScores:
    """Add one shape's evidence to ``scores`` (see the module doc).

    Args:
        ev: every candidate decoded on the shape's views (prompt ids as recorded).
        prompt_part, prompt_view: (n_prompts,) ground-truth part under each prompt (−1: unlabelled or none) and
            its view.
        instance: (N,) ground-truth part per point (−1: unlabelled). shown: view → (N,) bool shown points.
        pairs: (P, 2) point pairs for the view-error rates (e.g. k-NN neighbours).
        graph: the graph settings; its ``votes`` section makes the view partitions (``min_score``: a
            candidate is confident at this predicted IoU, ``nms``, ``min_points``).
        min_part_points: a part is visible in a view when it shows this many of its points.
    """
    instance = np.asarray(instance, dtype=np.int64)
    members = ev.member_matrix()
    views = np.asarray(ev.views, dtype=np.int64)
    for v, show in shown.items():
        show = np.asarray(show, bool)
        members[views == v] &= show[None]
    n_parts = int(instance.max()) + 1 if (instance >= 0).any() else 0
    onehot = np.zeros((len(instance), n_parts), np.float32)
    onehot[np.flatnonzero(instance >= 0), instance[instance >= 0]] = 1.0
    inter = members.astype(np.float32) @ onehot                                     # (M, Q)
    size = members.sum(axis=1).astype(np.float64)
    part_size = {v: (np.asarray(s, bool)[:, None] * onehot).sum(axis=0) for v, s in shown.items()}
    _score_candidates(ev, inter, size, part_size, prompt_part, prompt_view, shown, scores, graph,
                      min_part_points)
    scores.shown += int(sum((np.asarray(s, bool) & (instance >= 0)).sum() for s in shown.values()))
    _score_partitions(view_partitions(ev, graph.votes), instance, shown, pairs, scores)
    return scores


def _score_candidates(ev: MaskEvidence, inter: np.ndarray, size: np.ndarray,
                      part_size: dict[int, np.ndarray], prompt_part: np.ndarray, prompt_view: np.ndarray,
                      shown: dict[int, np.ndarray], scores: EvidenceScores, graph: GraphConfig,
                      min_part_points: int) -> None:
    """Recall per visible part and the chosen / best candidate per prompt (``inter`` (M, Q): shown points of
    every mask in every part; ``size`` (M,); ``part_size``: view → (Q,) shown points per part)."""
    views = np.asarray(ev.views, dtype=np.int64)
    prompts = np.asarray(ev.prompts, dtype=np.int64)
    mscore = np.asarray(ev.scores, dtype=np.float64)
    chosen = prompt_choice(ev, graph.votes)
    prompt_part = np.asarray(prompt_part, dtype=np.int64)
    prompt_view = np.asarray(prompt_view, dtype=np.int64)
    for v in sorted(shown):
        rows = np.flatnonzero(views == v)
        q_size = part_size[v]
        asked = set(prompt_part[prompt_view == v].tolist())
        for q in np.flatnonzero(q_size >= min_part_points):
            scores.part_prompted.append(int(q) in asked)
            if int(q) not in asked:
                continue
            iou = inter[rows, q] / np.maximum(size[rows] + q_size[q] - inter[rows, q], 1) if len(rows) else [0.0]
            scores.part_best.append(float(np.max(iou)))
    by_prompt: dict[int, list[int]] = {}
    for j, p in enumerate(prompts):
        by_prompt.setdefault(int(p), []).append(j)
    for p in np.flatnonzero(prompt_part >= 0):
        js = np.asarray(by_prompt.get(int(p), []), dtype=np.int64)
        q = int(prompt_part[p])
        if not len(js):
            scores.prompt_best.append(0.0)
            scores.prompt_chosen.append(0.0)
            scores.prompt_confident.append(False)
            continue
        q_size = part_size[int(prompt_view[p])][q]
        iou = inter[js, q] / np.maximum(size[js] + q_size - inter[js, q], 1)
        scores.prompt_best.append(float(iou.max()))
        ok = np.flatnonzero(mscore[js] >= graph.votes.min_score)
        scores.prompt_confident.append(bool(len(ok)))
        kept = np.flatnonzero(chosen[js])
        scores.prompt_chosen.append(float(iou[kept[0]]) if len(kept) else 0.0)


def _score_partitions(parts: Any, instance: np.ndarray, shown: dict[int, np.ndarray], pairs: np.ndarray,
                      scores: EvidenceScores) -> None:
    """Pair precision / recall of every view's partition and its votes on the point ``pairs``."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    a, b = pairs[:, 0], pairs[:, 1]
    labelled_pair = (instance[a] >= 0) & (instance[b] >= 0)
    truth = instance[a] == instance[b]
    n_vote = np.zeros(len(pairs))
    n_together = np.zeros(len(pairs))
    for row, v in enumerate(parts.views):
        show = np.asarray(shown.get(int(v), np.zeros(len(instance), bool)), bool)
        seg = np.where(show, parts.segment[row], -1)
        lab = (seg >= 0) & (instance >= 0)
        scores.labelled += int(lab.sum())
        if lab.any():
            s_seg, s_part, s_both = _pairs_in(seg[lab], instance[lab])
            scores.same_segment += s_seg
            scores.same_part += s_part
            scores.same_both += s_both
        vote = labelled_pair & (seg[a] >= 0) & (seg[b] >= 0)
        together = seg[a] == seg[b]
        scores.votes += int(vote.sum())
        scores.same_votes += int((vote & truth).sum())
        scores.cross_votes += int((vote & ~truth).sum())
        scores.split_votes += int((vote & truth & ~together).sum())
        scores.merge_votes += int((vote & ~truth & together).sum())
        n_vote += vote
        n_together += vote & together
    scores.wrong_votes = scores.split_votes + scores.merge_votes
    use = n_vote >= 2
    scores.view_pairs += float((n_vote[use] * (n_vote[use] - 1) / 2).sum())
    scores.disagreeing += float((n_together[use] * (n_vote[use] - n_together[use])).sum())


def grid_prompts(index_map: np.ndarray, grid: int) -> tuple[list[PromptSet], np.ndarray]:
    """Single-point prompts at the centres of a ``grid`` × ``grid`` lattice over the object's pixel box, kept
    where they land on the object, and the (B,) point under each."""
    rows, cols = np.nonzero(index_map >= 0)
    if not len(rows):
        return [], np.zeros(0, np.int64)
    ys = np.linspace(rows.min(), rows.max(), grid + 2)[1:-1]
    xs = np.linspace(cols.min(), cols.max(), grid + 2)[1:-1]
    out, under = [], []
    for y in ys.astype(np.int64):
        for x in xs.astype(np.int64):
            p = index_map[y, x]
            if p >= 0:
                out.append(PromptSet.positive([[x + 0.5, y + 0.5]]))
                under.append(int(p))
    return out, np.asarray(under, dtype=np.int64)


def rule_scores(masks: np.ndarray, scores: np.ndarray, rule: str) -> np.ndarray:
    """(B, 3) scores with the candidate a fixed ``oracle:choice-<rule>`` rule keeps at 1, the others at 0."""
    pick = choose_candidates(masks, scores, rule)
    out = np.zeros_like(scores)
    out[np.arange(len(pick)), pick] = 1.0
    return out


def decode_shape(seg: Any, views: Sequence[Any], instance: np.ndarray, grid: int, won_pixels: bool = True,
                 choice: str | None = None) -> dict[str, Any]:
    """Prompt a ``grid`` × ``grid`` lattice on each of a shape's views (already set in ``seg``, in order) and
    lift every candidate as the pipeline does.

    Returns ``evidence`` (:class:`MaskEvidence`, masks of candidate slot 0, then 1, then 2), ``candidate`` (M,)
    the slot of every mask, ``prompt_part`` / ``prompt_view`` (n_prompts,), ``shown`` (view → (N,) bool) and
    ``decodes``. choice: a fixed rule's candidate scored 1, the others 0 (:func:`rule_scores`)."""
    instance = np.asarray(instance, dtype=np.int64)
    n = len(instance)
    slots = [MaskEvidence(n) for _ in range(3)]
    under_all, view_all, shown = [], [], {}
    decodes = 0
    for k, v in enumerate(views):
        prompts, under = grid_prompts(v.index_map, grid)
        shown[k] = shown_points(v.index_map, n) & np.asarray(v.seen, bool)
        if not prompts:
            continue
        masks, sc = seg.predict(k, prompts)
        if choice is not None:
            sc = rule_scores(masks, sc, choice)
        decodes += len(prompts)
        for c, ev in enumerate(slots):            # one slot at a time: prompt ids stay aligned
            ev.add_view_masks(k, masks[:, c:c + 1], sc[:, c:c + 1], v, "bench", min_score=-1.0,
                              won_pixels=won_pixels)
        under_all.append(instance[under])
        view_all.append(np.full(len(under), k))
    ev = MaskEvidence(n, seen=dict(slots[0].seen), n_prompts=slots[0].n_prompts)
    candidate = []
    for c, part in enumerate(slots):
        ev.members += part.members
        ev.views += part.views
        ev.scores += part.scores
        ev.sources += part.sources
        ev.prompts += part.prompts
        candidate += [c] * len(part)
    return {"evidence": ev, "candidate": np.asarray(candidate, dtype=np.int64),
            "prompt_part": np.concatenate(under_all) if under_all else np.zeros(0, np.int64),
            "prompt_view": np.concatenate(view_all) if view_all else np.zeros(0, np.int64),
            "shown": shown, "decodes": decodes}


def score_shape(seg: Any, views: Sequence[Any], instance: np.ndarray, xyz: np.ndarray, grid: int, graph: GraphConfig,
                scores: EvidenceScores, choice: str | None = None) -> int:
    """:func:`decode_shape` then :func:`score_evidence` with the default preset's partition settings; returns
    the decodes made. xyz: (N, 3) the points (for the k-NN pairs)."""
    d = decode_shape(seg, views, instance, grid, graph.lift_won_pixels, choice)
    score_evidence(d["evidence"], d["prompt_part"], d["prompt_view"], instance, d["shown"], knn_pairs(xyz, 8),
                   scores, graph)
    return d["decodes"]
