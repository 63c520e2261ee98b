"""Choosing the parts from the merge tree by how well SAM's masks explain them (an adaptive cut).

One global affinity threshold suits some objects and not others. Instead every node of the merge tree (a
candidate part: a union of superpoints) gets a *support*: in each view that sees it, the best
score-weighted IoU between its seen points and one of the view's masks, averaged over those views. A node
SAM keeps segmenting as a whole, view after view, is a part. The cut is chosen by dynamic programming over
the tree: a node is kept whole when ``size × support`` beats the best cut of its two children.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from zerops.config import SupportConfig
from zerops.stages.evidence import MaskEvidence
from zerops.stages.graphmerge import MergeTree, renumber_by_weight


def node_members(tree: MergeTree) -> csr_matrix:
    """(2S − 1 … , S) sparse 0/1 matrix: the leaves (superpoints) under every tree node (leaves first)."""
    n, k = tree.n_leaves, len(tree.merges)
    rows, cols = list(range(n)), list(range(n))
    leaves: list[list[int]] = [[i] for i in range(n)]
    for i, (a, b) in enumerate(tree.merges.tolist()):
        leaves.append(leaves[a] + leaves[b])
        rows.extend([n + i] * len(leaves[-1]))
        cols.extend(leaves[-1])
    return csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n + k, n))


def node_support(tree: MergeTree, ev: MaskEvidence, label: np.ndarray, config: SupportConfig,
                 region: np.ndarray | None = None) -> np.ndarray:
    """(nodes,) support in [0, 1] of every tree node (see the module doc).

    Args:
        label: (N,) superpoint of every point.
        config: the ``graph.support`` section: masks covering more of their view's seen points than
            ``max_share`` (the whole object) are not evidence for any part; a view counts for a node when it
            sees at least ``min_visible`` of the node's points; the support is shrunk towards ``cut_prior``
            as if ``prior_views`` views had shown it.
        region: (S,) geometric region of every superpoint: a node that cuts a region is shrunk towards
            ``partial_prior`` instead, so where SAM is silent the cut falls back to the regions.
    """
    max_share, min_visible, prior = config.max_share, config.min_visible, config.cut_prior
    prior_views, partial_prior = config.prior_views, config.partial_prior
    n_super = tree.n_leaves
    n = len(label)
    onehot = csr_matrix((np.ones(n, np.float32), (np.arange(n), label)), shape=(n, n_super))
    nodes = node_members(tree)
    size = np.asarray(nodes @ np.bincount(label, minlength=n_super).astype(np.float32)).ravel()
    base = np.full(nodes.shape[0], float(prior))
    if region is not None:
        leaf_size = np.bincount(label, minlength=n_super).astype(np.float64)
        reg = csr_matrix((leaf_size, (np.arange(n_super), region)), shape=(n_super, int(region.max()) + 1))
        in_region = np.asarray((nodes @ reg).todense())                          # (nodes, R) points
        region_size = np.asarray(reg.sum(axis=0)).ravel()
        # (a few points of a region may sit in superpoints the graph never connects: 90 % counts as whole)
        partial = ((in_region > 0) & (in_region < 0.9 * region_size[None, :])).any(axis=1)
        base[partial] = partial_prior
    if len(ev) == 0 or len(ev.seen) == 0:
        return base
    table = ev.table()
    view_ids = table.view_ids
    seen_sp = csr_matrix(table.seen.astype(np.float32)) @ onehot                # (V, S)
    node_seen = np.asarray((nodes @ seen_sp.T).todense())                       # (nodes, V)
    inside_sp = csr_matrix(table.members.astype(np.float32)) @ onehot           # (M, S)
    inter = np.asarray((nodes @ inside_sp.T).todense())                         # (nodes, M)
    m_view = table.view_row
    m_size = table.size.astype(np.float64)
    view_seen = table.seen_count.astype(np.float64)
    ok = m_size <= max_share * view_seen[m_view]
    score = np.asarray(ev.scores, dtype=np.float64) * ok
    union = node_seen[:, m_view] + m_size[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0) * score[None, :]
    best = np.zeros((nodes.shape[0], len(view_ids)))
    for v in range(len(view_ids)):
        cols = np.flatnonzero(m_view == v)
        if len(cols):
            best[:, v] = iou[:, cols].max(axis=1)
    visible = node_seen >= np.maximum(min_visible * size[:, None], 1.0)
    total = (best * visible).sum(axis=1)
    count = visible.sum(axis=1)
    return (total + base * prior_views) / (count + prior_views)


def regions_spanned(tree: MergeTree, region: np.ndarray) -> np.ndarray:
    """(nodes,) int64 number of geometric regions each tree node touches (``region``: (S,) per leaf)."""
    nodes = node_members(tree)
    onehot = csr_matrix((np.ones(len(region), np.float32), (np.arange(len(region)), region)),
                        shape=(len(region), int(region.max()) + 1))
    return np.asarray(((nodes @ onehot) > 0).sum(axis=1)).ravel().astype(np.int64)


def best_cut(tree: MergeTree, support: np.ndarray, sizes: np.ndarray, margin: float | np.ndarray) -> np.ndarray:
    """(S,) leaf labels of the cut maximizing the sum over chosen nodes of size × support (renumbered by
    size), where a node is kept whole only when it beats the best cut of its children by ``margin`` × its
    size: near-ties between a well-supported union and its equally well-supported halves go to the halves.
    ``margin`` is one number or one per node (e.g. negative for nodes that join several regions: joining
    regions then needs a clear gain).

    ``sizes``: (S,) points per leaf. Nodes never merged (separate graph components) are roots of their own.
    """
    n, k = tree.n_leaves, len(tree.merges)
    node_size = np.concatenate([sizes.astype(np.float64), np.zeros(k)])
    for i, (a, b) in enumerate(tree.merges.tolist()):
        node_size[n + i] = node_size[a] + node_size[b]
    value = node_size * support
    margin = np.broadcast_to(np.asarray(margin, dtype=np.float64), value.shape)
    best = value.copy()
    keep = np.ones(n + k, dtype=bool)
    for i, (a, b) in enumerate(tree.merges.tolist()):
        split = best[a] + best[b]
        if split + margin[n + i] * node_size[n + i] > value[n + i]:
            best[n + i] = split
            keep[n + i] = False
    # walk down from the roots: a kept node labels all its leaves
    parent = np.full(n + k, -1)
    for i, (a, b) in enumerate(tree.merges.tolist()):
        parent[a] = parent[b] = n + i
    label = np.full(n, -1, dtype=np.int64)
    children = {n + i: (a, b) for i, (a, b) in enumerate(tree.merges.tolist())}
    stack = [r for r in range(n + k) if parent[r] < 0]
    part = 0
    while stack:
        node = stack.pop()
        if keep[node] or node < n:
            todo = [node]
            while todo:
                x = todo.pop()
                if x < n:
                    label[x] = part
                else:
                    todo.extend(children[x])
            part += 1
        else:
            stack.extend(children[node])
    return renumber_by_weight(label, sizes)
