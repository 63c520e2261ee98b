"""Every ZeroPS hyperparameter in one dataclass, one frozen dataclass per stage, and the named presets.

``ZeroPSConfig()`` is the ``paper`` preset: the paper's values (docs/METHOD.md §7) plus zerops's small-SAM
safeguards; ``preset("literal")`` is the paper word for word; ``preset("graph")`` is the default.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from zerops.configcheck import NONNEG, POS, SHARE, UNIT, K, Range, check, check_sections, number
from zerops.errors import ZeropsError
from zerops.limits import MAX_IMAGE_SIZE, MAX_POINTS, MAX_SPLAT_RADIUS

# The names the higher layers own (render.shading.SHADINGS, stages.labeling.CONFIDENCE_RULES,
# detectors.PROMPT_STYLES, stages.extension's rules, stages.partgraph's cuts), spelled again here so that each
# setting is checked where it is defined; tests/hostile/test_hostile_settings.py keeps the spellings equal.
SHADINGS = ("none", "lambert")
MASK_CHOICES = ("smallest-confident", "smallest")
GRAPH_CUTS = ("auto", "threshold")
PROMPT_STYLES = ("names", "of-category")
CONFIDENCE_RULES = ("votes", "one")
GRAPH_MERGES = ("votes", "support")


@dataclass(frozen=True)
class RenderConfig:
    """Multi-view point rendering (METHOD.md §2)."""

    views: str = "zerops20"          # view preset: zerops20 | partslip10 (or a custom list via the API)
    image_size: int = 800            # H = W in pixels
    distance: float = 2.2            # camera distance from the origin (unit-sphere-normalised cloud)
    fov_deg: float = 60.0            # vertical field of view of the perspective camera
    znear: float = 0.01
    point_radius: float | None = None  # NDC radius; None = adapt to the cloud's point spacing (>= 0.005)
    min_point_radius: float = 0.005  # the spec's fixed radius, used as the floor of the adaptive radius
    radius_scale: float = 0.8        # adaptive radius = scale × distance to the k-th nearest neighbour …
    radius_neighbors: int = 8        # … with k = radius_neighbors (capped at 3× the median)
    max_radius_ratio: float = 3.0    # adaptive radii are capped at this multiple of their median
    normal_neighbors: int = 16       # neighbours for the PCA normals that shade uncolored clouds
    seen_tolerance: float = 1.0      # a point is "seen" within this many of its splat radii behind the front surface
    background: tuple[int, int, int] = (255, 255, 255)
    shading: str = "none"            # colored clouds: none (flat colors, the spec) | lambert (color × light)
    albedo: float = 0.8              # gray of uncolored clouds (light gray)
    ambient: float = 0.3             # shaded color = color × (ambient + (1 − ambient) × Lambert term)
    light_offset: tuple[float, float] = (0.3, 0.4)  # light = towards camera + a × camera-left + b × camera-up
    framing: float = 0.0             # > 0: each view zooms (and centres) so that the object's projected extent
                                     # fills this share of the image (0: the spec's fixed camera)
    view_neighbors: int = 3          # angular layouts (partslip10, custom): each view's nearest views are adjacent
    start_fraction: float = 0.4      # angular layouts start from this share of their views (farthest first)

    def __post_init__(self) -> None:
        check(self, "render", dict(
            image_size=Range(16, MAX_IMAGE_SIZE), distance=Range(1, 1000, lo_open=True),
            fov_deg=Range(0, 180, True, True), znear=POS, point_radius=Range(0, MAX_SPLAT_RADIUS, lo_open=True),
            min_point_radius=Range(0, MAX_SPLAT_RADIUS), radius_scale=Range(0, 100, lo_open=True),
            radius_neighbors=K,
            max_radius_ratio=Range(1, 1000), normal_neighbors=Range(3, 256), seen_tolerance=Range(0, 100),
            shading=SHADINGS, albedo=UNIT, ambient=UNIT, view_neighbors=Range(1, 100), start_fraction=SHARE,
            framing=UNIT))
        if not self.znear < self.distance - 1:
            raise ZeropsError(f"render.znear must be in (0, distance - 1), got {self.znear!r}")
        if not isinstance(self.views, str) and not hasattr(self.views, "__len__") and not hasattr(self.views, "views"):
            raise ZeropsError(f"render.views must be a layout name, a layout or a list of views, got {self.views!r}")
        for name, n, kind, rule in (("background", 3, int, Range(0, 255)),
                                    ("light_offset", 2, float, Range(-10, 10))):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != n:
                raise ZeropsError(f"render.{name} must be {n} numbers, got {value!r}")
            value = tuple(number("render.", name, v, kind) for v in value)
            if not all(rule.holds(v) for v in value):
                raise ZeropsError(f"render.{name} must be {n} numbers {rule}, got {value!r}")
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class GroupingConfig:
    """Initial 2D groups in the start views and their lifting to 3D (METHOD.md §3.1)."""

    n_prompts: int = 256             # 3D farthest-point samples of the visible points, one prompt each
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7
    min_mask_area: int = 200         # px; also the small-region clean-up size
    max_object_fraction: float = 0.98  # drop masks covering more of the object's pixels than this
    dbscan_eps: float = 0.007        # unit-sphere units
    dbscan_min_points: int = 3
    eps_spacing_factor: float = 4.0  # eps = max(dbscan_eps, factor × median NN spacing): ~11 neighbours
                                     # on a randomly sampled surface, safely above 2D percolation (~4.5)
    lift_margin: float = 0.5         # lift a point only if its splat (× this) lies inside the mask
    batch_size: int = 64             # prompts per segmenter call
    skip_covered: bool = False       # fast preset: skip a prompt already inside an accepted mask
    prompt_views: str = "start"      # start: prompt the layout's start views (the spec) | all: every view

    def __post_init__(self) -> None:
        check(self, "grouping", dict(
            n_prompts=Range(1, 100_000), pred_iou_thresh=UNIT, stability_score_thresh=UNIT,
            box_nms_thresh=UNIT, min_mask_area=Range(0, MAX_IMAGE_SIZE ** 2), max_object_fraction=SHARE,
            dbscan_eps=Range(0, 2, lo_open=True), dbscan_min_points=Range(1, 1000), eps_spacing_factor=Range(0, 100),
            lift_margin=Range(0, 10), batch_size=Range(1, 4096), prompt_views=("start", "all")))


@dataclass(frozen=True)
class ExtensionConfig:
    """Self-extension with the Single Viewpoint Extension operator (METHOD.md §3.2-3.3)."""

    enabled: bool = True
    passes: int = 2
    min_visible_fraction: float = 0.05
    n_fps_prompts: int = 3           # plus one centroid prompt = 4 positive clicks
    min_pred_iou: float = 0.8
    mask_choice: str = "smallest-confident"  # or "smallest" (spec): smallest candidate, rejected if IoU < min
    max_object_fraction: float = 0.9  # never take a candidate covering more of the view's object pixels (spec 1)
    interior_prompts: float = 0.75   # prompt only from points with >= this share of neighbours in the group
                                     # (0 = the spec's FPS over all visible points)
    interior_neighbors: int = 8      # … among each point's this many nearest neighbours
    min_overlap: float = 0.5         # union only if the mask holds this share of the group's visible points
                                     # (0 = the spec's "at least one shared point")
    max_growth: float = 3.0          # reject a mask lifting more than this × the group's visible points
                                     # (0 = no limit, the spec)
    memoize: bool = False            # fast preset: reuse the answer to prompts already decoded in a view
    stop_when_stable: bool = False   # fast preset: skip a start view's next pass when its last grew nothing

    def __post_init__(self) -> None:
        check(self, "extension", dict(
            passes=Range(0, 100), min_visible_fraction=UNIT, n_fps_prompts=Range(0, 64), min_pred_iou=UNIT,
            mask_choice=MASK_CHOICES, max_object_fraction=SHARE, interior_prompts=UNIT, interior_neighbors=K,
            min_overlap=UNIT, max_growth=Range(0, 1e6)))


@dataclass(frozen=True)
class MergingConfig:
    """Merging of the pooled 3D groups (METHOD.md §3.4)."""

    iou_threshold: float = 0.3       # strictly greater merges
    fill_unassigned: bool = False    # 1-NN fill of -1 points, for display only

    def __post_init__(self) -> None:
        check(self, "merging", dict(iou_threshold=Range(0, 1, hi_open=True)))


@dataclass(frozen=True)
class SuperpointConfig:
    """The graph's atoms: geometric regions (the region growing of ``components``, with a crease cut) cut into
    chunks of at most ``max(min_size, size_fraction × N)`` points, and their adjacency graph."""

    size_fraction: float = 0.003     # superpoint size cap as a fraction of the points …
    min_size: int = 12               # … but never below this many points
    angle_deg: float = 20.0          # region growing: max normal angle between neighbours
    normal_k: int = 16               # region growing: neighbours of the PCA normals (the baseline's)
    crease_normal_k: int = 8         # superpoints also cut where growing with these few neighbours and …
    max_variation: float = 0.02      # … this crease gate cuts (right-angle creases); 0 = no such cut
    color_dist: float = 0.15         # region growing: max RGB distance between neighbours (colored clouds)
    min_region: float = 0.01         # regions below this fraction of the cloud join their neighbours
    local_reach: float = 1.5         # superpoints are adjacent across k-NN pairs within the DBSCAN radius or
                                     # this × the points' own spacing (0: the radius only)
    edge_k: int = 10                 # adjacency: k-NN pairs across a boundary make an edge …
    edge_eps_factor: float = 3.0     # … within this × the cloud's point spacing
    max_island: float = 0.01         # graph pieces under this share of the points are bridged to the nearest
    split_together: float = 0.0      # votes merge: a k-NN pair inside an atom is cut when fewer than this share
                                     # of the views labelling both put them in one segment (0: atoms not split)
    split_min_views: int = 2         # … and at least this many views label both
    split_min_points: int = 6        # split pieces below this many points rejoin their atom's neighbour piece

    def __post_init__(self) -> None:
        check(self, "graph.superpoints", dict(
            size_fraction=SHARE, min_size=Range(1, MAX_POINTS), angle_deg=Range(0, 180), normal_k=Range(3, 256),
            crease_normal_k=Range(0, 256), max_variation=Range(0, 1), color_dist=Range(0, 2), min_region=UNIT,
            local_reach=Range(0, 100), edge_k=K, edge_eps_factor=NONNEG, max_island=UNIT, split_together=UNIT,
            split_min_views=Range(1, 10_000), split_min_points=Range(1, MAX_POINTS)))


@dataclass(frozen=True)
class VoteConfig:
    """The ``votes`` merge (the default): each view's masks resolved into one partition, superpoints joined by
    the share of views that put them in one segment (stages/votemerge.py)."""

    min_score: float = 0.9           # a candidate is confident at this predicted IoU
    min_points: int = 3              # candidates covering fewer seen points are not in a view's partition
    prior: float = 0.6               # P(one part) = 0.5 ± this / 2 inside one region / across regions
    nested: float = 0.0              # two segments inside one larger kept mask vote this much "together"
    min_seen: float = 3.0            # a view votes on two segments when it sees this many points of each …
    min_known: float = 0.5           # … and its partition labels this share of the points it sees of each
    nms: float = 0.8                 # kept masks overlapping by more than this point IoU are duplicates
    threshold: float = 0.5           # the tree is cut where the merge probability falls below this
    min_error: float = 0.05          # a view's vote is trusted at most as one wrong this often (the error
                                     # rate is estimated per object from how often views disagree)
    max_views: float = 5.0           # the vote term counts at most this many views (mean vote × min(n, this)):
                                     # SAM's views err together, not independently (0: every view counts)
    whole_share: float = 0.8         # a kept candidate covering this share of its view's seen points answers
                                     # "the whole object" …
    whole_prompts: float = 0.6       # … and when this share of an object's prompts answer so, they keep their
                                     # largest candidate under ``whole_share`` instead (> 1: never)

    def __post_init__(self) -> None:
        check(self, "graph.votes", dict(
            min_score=UNIT, min_points=Range(0, MAX_POINTS), prior=Range(0, 1, hi_open=True), nested=UNIT,
            min_seen=NONNEG, min_known=UNIT, nms=UNIT, threshold=Range(0, 1, True, True),
            min_error=Range(0, 0.5, lo_open=True), max_views=NONNEG, whole_share=Range(0, 1, lo_open=True),
            whole_prompts=NONNEG))


@dataclass(frozen=True)
class SupportConfig:
    """The ``support`` merge (the earlier one): the score-weighted soft co-membership of two superpoints over
    every decoded mask plus ``prior`` × (same region − ½), average linkage, and the per-object support cut
    (stages/supportmerge.py, stages/treecut.py)."""

    size_power: float = 2.0          # mask weight = predicted IoU × (1 − share of the view's object) ** this
    prior: float = 0.3               # affinity bonus (+prior/2) inside a region, malus across regions
    regions_first: bool = True       # the tree joins superpoints inside each region first: regions are nodes
    evidence_min_seen: int = 2       # a mask sees a superpoint when it sees this many of its points
    affinity_power: float = 1.0      # edge affinity = co-membership ** this
    cut_margin: float = 0.1          # cut=auto: a node stays whole only if its support beats its halves' by this
    max_share: float = 1.0           # cut=auto: masks covering more of their view's object are not evidence
    join_regions: bool = False       # cut=auto: may a part join several geometric regions (off: regions are the
                                     # coarsest parts, SAM only splits them; measured safer, see README)
    cut_prior: float = 0.3           # cut=auto: support shrunk towards this as if ``prior_views`` more views …
    prior_views: float = 1.0         # … had shown it
    partial_prior: float = 0.1       # cut=auto: the prior of a node that holds part of a geometric region
    min_visible: float = 0.1         # cut=auto: a view counts for a node when it sees this share of its points

    def __post_init__(self) -> None:
        check(self, "graph.support", dict(
            size_power=Range(0, 100), prior=Range(0, 10), evidence_min_seen=Range(1, MAX_POINTS),
            affinity_power=POS, cut_margin=Range(0, 10), max_share=SHARE, cut_prior=UNIT, prior_views=NONNEG,
            partial_prior=UNIT, min_visible=UNIT))


@dataclass(frozen=True)
class GraphConfig:
    """Superpoint graph merging (zerops's default in place of the spec's greedy IoU union; see README).

    Superpoints (:class:`SuperpointConfig`) are merged greedily on their adjacency graph by one of two modes
    (``merge``, each with its own section): ``votes`` (the default, :class:`VoteConfig`) or ``support``
    (:class:`SupportConfig`). The fields here are shared by both: how masks become evidence and where the
    merge tree is cut. Every threshold the graph stages use is a field of this tree; the stage functions have
    no defaults of their own.
    """

    enabled: bool = False            # False: the spec's merging (paper / literal presets)
    lift_won_pixels: bool = True     # a point is in a mask when most pixels it wins are (False: its centre)
    mask_min_score: float = 0.5      # decoded candidates above this predicted IoU count as evidence (every
                                     # segmenter, initial groups and self-extension alike)
    point_decodes: bool = True       # without self-extension: decode the initial prompts at the views' point
                                     # pixels only (the same evidence, no full-size masks, no initial groups)
    merge: str = "votes"             # votes | support: which section below merges the superpoints
    cut: str = "auto"                # auto: the merge mode's own cut | threshold: at ``threshold``
    threshold: float = 0.6           # cut=threshold (--granularity): merge while mean affinity >= this
    n_parts: int = 0                 # > 0: cut the merge tree at this many parts instead
    min_part: float = 0.005          # parts below this fraction of the points join their best neighbour …
    min_part_views: int = 3          # … unless a kept mask of at least this many views matches the part …
    min_part_iou: float = 0.5        # … at this point IoU (votes merge; 0 views: small parts always join)
    superpoints: SuperpointConfig = field(default_factory=SuperpointConfig)
    votes: VoteConfig = field(default_factory=VoteConfig)
    support: SupportConfig = field(default_factory=SupportConfig)

    def __post_init__(self) -> None:
        check_sections(self, "graph")
        check(self, "graph", dict(mask_min_score=UNIT, merge=GRAPH_MERGES, cut=GRAPH_CUTS, threshold=UNIT,
                                   n_parts=Range(0, MAX_POINTS), min_part=UNIT,
                                   min_part_views=Range(0, 10_000), min_part_iou=Range(0, 1, lo_open=True)))


# The flat ``graph.*`` names before the graph settings had sections (issue #25): ``--set graph.prior=0`` and
# ``with_overrides(**{"graph.vote_min_score": 0.8})`` still work and mean the sectioned setting.
GRAPH_ALIASES = {
    **{f"graph.{n}": f"graph.superpoints.{n}" for n in (
        "size_fraction", "min_size", "angle_deg", "normal_k", "crease_normal_k", "max_variation", "color_dist",
        "min_region", "local_reach", "edge_k", "edge_eps_factor", "max_island")},
    **{f"graph.vote_{n}": f"graph.votes.{n}" for n in (
        "min_score", "min_points", "prior", "nested", "min_seen", "min_known", "nms", "threshold", "min_error")},
    **{f"graph.{n}": f"graph.support.{n}" for n in (
        "size_power", "prior", "regions_first", "evidence_min_seen", "affinity_power", "cut_margin",
        "join_regions")},
    "graph.support_max_share": "graph.support.max_share", "graph.support_prior": "graph.support.cut_prior",
    "graph.support_prior_views": "graph.support.prior_views",
    "graph.support_partial_prior": "graph.support.partial_prior",
    "graph.support_min_visible": "graph.support.min_visible",
}


@dataclass(frozen=True)
class LabelingConfig:
    """Multi-modal labeling: detector, two-dimensional checking, Vote Matrix, CNVP (METHOD.md §4)."""

    box_score_thresh: float = 0.5
    whole_object_fraction: float = 0.98
    prompt_style: str = "names"      # names | of-category
    check: bool = True               # two-dimensional checking mechanism (TDCM)
    penalty: bool = True             # Class Non-highest Vote Penalty (CNVP)
    confidence: str = "one"          # instance confidence for mAP50: one (1.0, the ZeroPS code) | votes

    def __post_init__(self) -> None:
        check(self, "labeling", dict(box_score_thresh=UNIT, whole_object_fraction=SHARE,
                                      prompt_style=PROMPT_STYLES, confidence=CONFIDENCE_RULES))


@dataclass(frozen=True)
class ZeroPSConfig:
    """All hyperparameters of the pipeline. ``ZeroPSConfig()`` is the spec's schedule with zerops's
    small-SAM safeguards (the ``paper`` preset); ``preset("literal")`` is the spec word for word."""

    render: RenderConfig = field(default_factory=RenderConfig)
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    extension: ExtensionConfig = field(default_factory=ExtensionConfig)
    merging: MergingConfig = field(default_factory=MergingConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    labeling: LabelingConfig = field(default_factory=LabelingConfig)
    seed: int = 0
    max_points: int = 100_000        # larger clouds: SAM work on a random subset, labels copied back by NN

    def __post_init__(self) -> None:
        check_sections(self, "")
        check(self, "", dict(seed=NONNEG, max_points=Range(100, MAX_POINTS)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def decodes_at_points(self) -> bool:
        """Whether the initial prompts are decoded at point pixels only (``graph.point_decodes``): the graph
        merge reads only the evidence, and no self-extension needs the initial groups."""
        return self.graph.enabled and self.graph.point_decodes and not self.extension.enabled

    def with_overrides(self, **dotted: Any) -> "ZeroPSConfig":
        """Return a copy with ``section.name=value`` overrides, e.g. ``merging.iou_threshold=0.5`` or
        ``graph.votes.min_score=0.8`` (a nested section; the flat names of :data:`GRAPH_ALIASES` still work)."""
        cfg = self
        for key, value in dotted.items():
            path = GRAPH_ALIASES.get(key.replace("__", "."), key.replace("__", ".")).split(".")
            cfg = _replace_path(cfg, path, value, key)
        return cfg


def _replace_path(obj: Any, path: list[str], value: Any, key: str) -> Any:
    """``obj`` with the (nested) field ``path`` set to ``value``; an unknown name raises one ZeropsError."""
    if not path or not path[0] or path[0] not in {f.name for f in fields(obj)}:
        raise ZeropsError(f"unknown setting '{key}'")
    if len(path) == 1:
        return replace(obj, **{path[0]: value})
    sub = getattr(obj, path[0])
    if not hasattr(sub, "__dataclass_fields__"):
        raise ZeropsError(f"unknown setting '{key}'")
    return replace(obj, **{path[0]: _replace_path(sub, path[1:], value, key)})


PRESETS = ("graph", "fast", "paper", "literal")
DEFAULT_PRESET = "graph"


def preset(name: str = DEFAULT_PRESET) -> ZeroPSConfig:
    """Named configurations.

    ``paper``: the spec's schedule (256 prompts per start view, every SVE decode, 2 full passes) with
    zerops's small-SAM safeguards (interior prompts, overlap and growth checks, lifting margin).
    ``literal``: ``paper`` with the safeguards off — the spec's rules word for word (an ablation).
    ``fast``: 64 initial prompts decoded 16 at a time, prompts already inside an accepted mask are skipped,
    repeated SVE prompts are answered from memory, and a start view stops once a pass grows nothing.
    ``graph`` (the default): ``fast``'s initial groups, every cloud shaded (color × Lambert), the merging
    replaced by the superpoint graph (:class:`GraphConfig`): every point in a part, a merge tree kept; no
    self-extension (measured: as evidence it costs 3-4x the time and helps one data set of three;
    ``extension.enabled=True`` turns it back on).
    """
    base = ZeroPSConfig()
    if name == "paper":
        return base
    if name == "literal":
        return base.with_overrides(**{"grouping.lift_margin": 0.0, "extension.mask_choice": "smallest",
                                      "extension.max_object_fraction": 1.0, "extension.interior_prompts": 0.0,
                                      "extension.min_overlap": 0.0, "extension.max_growth": 0.0})
    if name in ("fast", "graph"):
        fast = base.with_overrides(**{"grouping.n_prompts": 64, "grouping.skip_covered": True,
                                      "grouping.batch_size": 16,
                                      "extension.memoize": True, "extension.stop_when_stable": True})
        if name == "fast":
            return fast
        return fast.with_overrides(**{"render.shading": "lambert", "render.framing": 0.9, "graph.enabled": True,
                                      "extension.enabled": False})
    raise ZeropsError(f"unknown preset '{name}': choose one of {', '.join(PRESETS)}")
