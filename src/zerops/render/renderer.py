"""Multi-view point splatting with pixel <-> point correspondence (METHOD.md §2).

Cameras follow PyTorch3D: ``look_at_view_transform(dist, elev, azim)`` with +Y up and a perspective camera
(``FoVPerspectiveCameras``, 60° vertical field of view). Camera space has +X left, +Y up, +Z forward, so an
image is never mirrored: seen from ``azim = 0, elev = 0`` (camera on +Z) world +X is on the right of the image
and +Y at the top. Pixel ``(column c, row r)`` has its centre at ``(c + 0.5, r + 0.5)``.

Points are splatted as screen-space disks with a z-test: a pixel shows the nearest point whose disk covers the
pixel centre. With ``RenderConfig.point_radius = None`` the disk radius adapts to the cloud, per point: a world
radius of 0.8 x the distance to the point's 8th nearest neighbour (so sparse and dense clouds, and clouds of
varying density, give closed surfaces), projected with perspective (nearer points get bigger disks), and never
below ``min_point_radius`` (0.005 NDC, 2 px at 800 px). A fixed ``point_radius`` (NDC) gives PyTorch3D's
behaviour: the same screen radius for every point.

Uncolored clouds are shaded from normals (estimated once per cloud when not given): a light-gray albedo,
ambient + Lambert light from just above and left of the camera, normals flipped to face the camera. Colored
clouds show their colors flat (``RenderConfig.shading = "none"``, the spec) or shaded the same way,
color × (ambient + Lambert) (``"lambert"``): a cloud sampled from a mesh with one flat material color is
otherwise a uniform silhouette with nothing for SAM to cut.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from zerops.arrays import check_points
from zerops.config import RenderConfig
from zerops.errors import ZeropsError
from zerops.geometry.pointops import knn, normals_from_neighbors, smooth_normals
from zerops.render.raster import splat
from zerops.render.shading import SHADINGS, shade
from zerops.render.views import ViewLayout, ViewSpec, get_layout
from zerops.torchcheck import check_torch_device, import_torch


def normalize(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Center on the mean and scale into the unit sphere.

    Args:
        xyz: (N, 3) points.

    Returns:
        xyz_n: (N, 3) float32 with mean 0 and largest norm 1; center: (3,) float64; scale: the largest norm
        before scaling, so that ``xyz = xyz_n * scale + center``.
    """
    pts = _check_xyz(xyz).astype(np.float64)
    center = pts.mean(axis=0)
    centered = pts - center
    scale = float(np.sqrt((centered * centered).sum(axis=1).max()))
    if not scale > 0:
        raise ZeropsError("all points are identical; a point cloud needs some extent to be rendered")
    return (centered / scale).astype(np.float32), center, scale


@dataclass
class RenderedView:
    """One rendered view and its pixel <-> point correspondence."""

    name: str
    elev: float
    azim: float
    image: np.ndarray        # (H, W, 3) uint8
    index_map: np.ndarray    # (H, W) int32 index of the front-most point, -1 for background
    pixels: np.ndarray       # (N, 2) float32 projection of ALL points, (x = column, y = row), centres at +0.5
    depth: np.ndarray        # (N,) float32 camera-space depth of all points
    visible: np.ndarray      # (N,) bool: the point is front-most in at least one pixel
    radius: np.ndarray | None = None  # (N,) float32 splat radius in pixels
    seen: np.ndarray | None = None    # (N,) bool: on the visible surface (depth test, see below)

    @property
    def foreground(self) -> np.ndarray:
        """(H, W) bool mask of pixels that show a point."""
        return self.index_map >= 0


def camera_frame(elev: float, azim: float, dist: float) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch3D look-at camera.

    Returns:
        rot: (3, 3) float64 whose rows are the camera's +X (left), +Y (up) and +Z (forward) axes in world
        coordinates, so that ``p_cam = rot @ (p - position)``; position: (3,) float64 camera centre.
    """
    e, a = math.radians(elev), math.radians(azim)
    position = dist * np.array([math.cos(e) * math.sin(a), math.sin(e), math.cos(e) * math.cos(a)])
    z = -position / np.linalg.norm(position)
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    if np.linalg.norm(x) < 1e-9:
        raise ZeropsError(f"camera at elevation {elev} looks straight along the up axis; use |elev| < 90")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z]), position


@dataclass
class PreparedCloud:
    """Per-cloud state shared by all views (see :meth:`Renderer.prepare`)."""

    xyz: np.ndarray                  # (N, 3) float32
    xyz_t: np.ndarray                # (3, N) float32, contiguous (fast projection)
    colors: np.ndarray | None        # (N, 3) uint8 point colors, or None (shade from normals)
    normals: np.ndarray | None       # (N, 3) float32 unit normals for shading, or None
    world_radius: np.ndarray | None  # (N,) float32 splat radius in world units (adaptive mode), or None


def adaptive_radius(knn_dist: np.ndarray, scale: float = RenderConfig.radius_scale,
                    max_ratio: float = RenderConfig.max_radius_ratio) -> np.ndarray:
    """Per-point world splat radius from neighbour distances.

    Args:
        knn_dist: (N, k) ascending distances to each point's k nearest neighbours (k >= 1).
        scale: radius = scale x the distance to the k-th neighbour.
        max_ratio: radii are capped at this multiple of their median (isolated points do not become blobs).

    Returns:
        (N,) float32 radii. About ``k * scale**2`` disks cover any surface spot, so with k = 8 and scale 0.8
        surfaces look closed (about 0.01 % see-through pixels on random samples of a sphere, 2k to 100k
        points) also where the density varies.
    """
    local = np.asarray(knn_dist, dtype=np.float32)[:, -1]
    positive = local[local > 0]
    if len(positive) == 0:
        return np.zeros(len(local), dtype=np.float32)
    cap = np.float32(max_ratio * float(np.median(positive)))
    return (np.float32(scale) * np.minimum(local, cap)).astype(np.float32)


class Renderer:
    """Renders point clouds from the views of a layout.

    Args:
        config: camera and raster settings (:class:`zerops.config.RenderConfig`).
        device: ``"cpu"`` or a CUDA device (``"cuda"``, ``"cuda:1"``; needs PyTorch with CUDA).
        backend: splatting backend, ``"numpy"`` or ``"torch"``; default numpy on CPU, torch on CUDA.
            Both give identical index maps.
        radius_scale, radius_neighbors: adaptive splat radius (when ``config.point_radius`` is None) =
            ``radius_scale`` x the distance to the ``radius_neighbors``-th nearest neighbour; defaults from
            ``config`` if it has these fields, else 0.8 and 8.
        threads: views rendered in parallel (numpy releases the GIL for most of the work); default
            ``min(2, cpu count)`` for the numpy backend, 1 for torch. Results do not depend on it.
    """

    def __init__(  # noqa: C901 (argument checks and backend choice, in order)
        self,
        config: RenderConfig = RenderConfig(),
        device: str = "cpu",
        backend: str | None = None,
        radius_scale: float | None = None,
        radius_neighbors: int | None = None,
        threads: int | None = None,
    ) -> None:
        device = str(device)
        if backend is None:
            backend = "numpy" if device == "cpu" else "torch"
        if backend not in ("numpy", "torch"):
            raise ZeropsError(f"unknown render backend '{backend}'; use 'numpy' or 'torch'")
        if backend == "numpy" and device != "cpu":
            raise ZeropsError(f"the numpy render backend runs on the CPU only, not '{device}'; use backend='torch'")
        if backend == "torch":
            check_torch_device(import_torch("the torch render backend"), device)
        if config.image_size < 8:
            raise ZeropsError(f"image_size must be at least 8 pixels, got {config.image_size}")
        if not 0 < config.fov_deg < 180:
            raise ZeropsError(f"fov_deg must be between 0 and 180, got {config.fov_deg}")
        if config.distance <= 1.0:
            raise ZeropsError(f"camera distance must be > 1 (the cloud fills the unit sphere), got {config.distance}")
        if not 0 < config.znear < config.distance - 1.0:
            raise ZeropsError(f"znear must be in (0, distance - 1), got {config.znear}")
        if not 0.0 <= config.framing <= 1.0:
            raise ZeropsError(f"framing must be in [0, 1] (0: fixed camera), got {config.framing}")
        if config.shading not in SHADINGS:
            raise ZeropsError(f"unknown shading '{config.shading}': use {' or '.join(SHADINGS)}")
        if config.point_radius is not None and not config.point_radius > 0:
            raise ZeropsError(f"point_radius must be positive or None, got {config.point_radius}")
        if not config.min_point_radius >= 0:
            raise ZeropsError(f"min_point_radius must be >= 0, got {config.min_point_radius}")
        scale = radius_scale if radius_scale is not None else config.radius_scale
        k = radius_neighbors if radius_neighbors is not None else config.radius_neighbors
        if not scale > 0:
            raise ZeropsError(f"radius_scale must be positive, got {scale}")
        if int(k) != k or k < 1:
            raise ZeropsError(f"radius_neighbors must be a positive integer, got {k}")
        self.config = config
        self.device = device
        self.backend = backend
        self.radius_scale = float(scale)
        self.radius_neighbors = int(k)
        if threads is None:
            threads = min(2, os.cpu_count() or 1) if backend == "numpy" else 1
        if int(threads) != threads or threads < 1:
            raise ZeropsError(f"threads must be a positive integer, got {threads}")
        self.threads = int(threads)
        self.size = int(config.image_size)
        self.focal = (self.size / 2.0) / math.tan(math.radians(config.fov_deg) / 2.0)  # pixels

    # ------------------------------------------------------------------ public API
    def render(
        self,
        xyz_normalized: np.ndarray,
        rgb: np.ndarray | None = None,
        normals: np.ndarray | None = None,
        layout: "str | ViewLayout | Sequence[tuple[float, float]]" = "zerops20",
        progress: bool = False,
    ) -> list[RenderedView]:
        """Render a (normalized) cloud from every view of ``layout``.

        Args:
            xyz_normalized: (N, 3) points, normally inside the unit sphere (see :func:`normalize`).
            rgb: optional (N, 3) colors in [0, 1] (float) or 0..255 (uint8). None: shade from normals.
            normals: optional (N, 3) normals for shading uncolored clouds; estimated when None.
            layout: view preset name, a :class:`ViewLayout`, or a list of (elev, azim) pairs.
            progress: show a progress bar over the views.

        Returns:
            One :class:`RenderedView` per view, in layout order.
        """
        lay = get_layout(layout, self.config.view_neighbors, self.config.start_fraction)
        cloud = self.prepare(xyz_normalized, rgb, normals)
        if self.threads > 1 and len(lay.views) > 1:
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                results = pool.map(lambda v: self.render_view(cloud, v), lay.views)
                return list(_progress(results, len(lay.views), progress))
        return list(_progress((self.render_view(cloud, v) for v in lay.views), len(lay.views), progress))

    def prepare(self, xyz: np.ndarray, rgb: np.ndarray | None = None,
                normals: np.ndarray | None = None) -> PreparedCloud:
        """Per-cloud work shared by all views: checks, colors, normals (one k-NN query) and splat radii."""
        pts = _check_xyz(xyz).astype(np.float32)
        n = len(pts)
        colors = None if rgb is None else _check_rgb(rgb, n)
        if normals is not None:
            normals = _check_normals(normals, n)
        shade = colors is None or self.config.shading == "lambert"
        need_normals = shade and normals is None and n >= 3
        adaptive = self.config.point_radius is None and n >= 2
        world_radius = None
        if need_normals or adaptive:
            k = max(self.radius_neighbors if adaptive else 1, self.config.normal_neighbors if need_normals else 1)
            dist, neighbors = knn(pts, k)
            if adaptive:
                world_radius = adaptive_radius(dist[:, : self.radius_neighbors], self.radius_scale,
                                               self.config.max_radius_ratio)
            if need_normals:
                nb = neighbors[:, :self.config.normal_neighbors]
                normals = smooth_normals(normals_from_neighbors(pts, nb), nb)
        return PreparedCloud(pts, np.ascontiguousarray(pts.T), colors, normals, world_radius)

    def render_view(self, cloud: PreparedCloud, view: ViewSpec) -> RenderedView:
        """Render one view of a cloud prepared with :meth:`prepare`."""
        cfg = self.config
        size = self.size
        n = len(cloud.xyz)
        rot, position = camera_frame(view.elev, view.azim, cfg.distance)
        # (3, N) camera coordinates from the (3, N) transposed points: one BLAS call
        cam = rot.astype(np.float32) @ cloud.xyz_t - (rot @ position).astype(np.float32)[:, None]
        depth = cam[2]
        in_front = depth > cfg.znear
        focal, centre = self._frame(cam, in_front)
        inv = np.float32(focal) / np.where(in_front, depth, np.float32(1.0))
        half = np.float32(size / 2.0)
        pixels = np.empty((n, 2), dtype=np.float32)
        np.subtract(half + np.float32(centre[0] * focal), cam[0] * inv, out=pixels[:, 0])
        np.subtract(half + np.float32(centre[1] * focal), cam[1] * inv, out=pixels[:, 1])
        if cfg.point_radius is not None:
            radius = np.full(n, cfg.point_radius * half, dtype=np.float32)
        else:
            floor_px = np.float32(cfg.min_point_radius * half)
            if cloud.world_radius is None:
                radius = np.full(n, floor_px, dtype=np.float32)
            else:
                radius = np.maximum(floor_px, cloud.world_radius * inv)
        index_map = splat(pixels, depth, radius, size, size, valid=in_front, backend=self.backend,
                          device=self.device)
        visible = np.zeros(n + 1, dtype=bool)
        visible[index_map] = True                     # -1 marks the extra last slot
        seen = surface_visibility(pixels, depth, radius * (depth / np.float32(focal)), index_map,
                                  in_front, cfg.seen_tolerance) | visible[:n]
        if cloud.colors is None:
            colors = shade(cloud.xyz, cloud.normals, rot, position, cfg)
        elif cfg.shading == "lambert":
            colors = shade(cloud.xyz, cloud.normals, rot, position, cfg, albedo=cloud.colors)
        else:
            colors = cloud.colors
        image = _colorize(index_map, colors, cfg.background)
        return RenderedView(
            name=view.name, elev=view.elev, azim=view.azim, image=image, index_map=index_map,
            pixels=pixels, depth=depth, visible=visible[:n], radius=radius, seen=seen,
        )


    def _frame(self, cam: np.ndarray, in_front: np.ndarray) -> tuple[float, tuple[float, float]]:
        """Focal length (pixels) and image-plane centre (x/z, y/z) of one view: the configured camera, or with
        ``framing`` > 0 zoomed and centred so the projected points span ``framing`` of the image."""
        fill = self.config.framing
        if not fill > 0 or not in_front.any():
            return self.focal, (0.0, 0.0)
        z = cam[2, in_front]
        u, v = cam[0, in_front] / z, cam[1, in_front] / z
        lo_u, hi_u, lo_v, hi_v = float(u.min()), float(u.max()), float(v.min()), float(v.max())
        extent = max(hi_u - lo_u, hi_v - lo_v) / 2.0
        if not extent > 0:
            return self.focal, (0.0, 0.0)
        return fill * (self.size / 2.0) / extent, ((lo_u + hi_u) / 2.0, (lo_v + hi_v) / 2.0)


def surface_visibility(pixels: np.ndarray, depth: np.ndarray, world_radius: np.ndarray, index_map: np.ndarray,
                       valid: np.ndarray, tolerance: float = RenderConfig.seen_tolerance) -> np.ndarray:
    """Which points lie on the visible surface: (N,) bool.

    The index map keeps one front-most point per pixel, and with disks larger than the point spacing many
    front-surface points win no pixel at all, so ``visible`` is a sparse subset of the surface. A point is
    *seen* when its centre pixel shows a point (the front surface there) and its depth is at most
    ``tolerance`` × its splat radius (world units) behind that point's depth. Lifting masks to points
    with ``seen`` keeps whole surfaces instead of a speckle of winners.
    """
    h, w = index_map.shape
    cols = np.floor(pixels[:, 0]).astype(np.int64)
    rows = np.floor(pixels[:, 1]).astype(np.int64)
    inside = np.flatnonzero(valid & (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h))
    front = index_map[rows[inside], cols[inside]]
    hit = front >= 0
    idx = inside[hit]
    seen = np.zeros(len(pixels), dtype=bool)
    seen[idx] = depth[idx] <= depth[front[hit]] + tolerance * world_radius[idx]
    return seen


def render_cloud(cloud: Any, config: RenderConfig = RenderConfig(), layout: Any = None,
                 progress: bool = False) -> list[RenderedView]:
    """Normalize a cloud and render it from ``layout`` (default ``config.views``).

    ``cloud`` is a :class:`zerops.io.cloud.PointCloud` (or anything with ``xyz``, ``rgb``, ``normals``
    attributes), or whatever :func:`zerops.io.load.as_cloud` accepts: an (N, 3) / (N, 6) array, a mesh, a path.
    """
    if not hasattr(cloud, "xyz"):
        from zerops.io.load import as_cloud

        cloud = as_cloud(cloud)
    xyz, rgb, normals = cloud.xyz, getattr(cloud, "rgb", None), getattr(cloud, "normals", None)
    xyz_n, _, _ = normalize(xyz)
    return Renderer(config).render(xyz_n, rgb, normals, layout=config.views if layout is None else layout,
                                   progress=progress)


# ---------------------------------------------------------------------- shading and checks
def _progress(items: Iterator[RenderedView], total: int, enabled: bool) -> Iterator[RenderedView]:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, desc="render", unit="view", leave=False)


def _colorize(index_map: np.ndarray, colors: np.ndarray, background: Sequence[int]) -> np.ndarray:
    """(H, W, 3) uint8 image: the color of each pixel's point, ``background`` where the index is -1."""
    palette = np.concatenate([colors, np.asarray([background], dtype=np.uint8)], axis=0)
    return np.take(palette, index_map, axis=0, mode="wrap")  # -1 wraps to the background entry




def _check_xyz(xyz: Any) -> np.ndarray:
    return check_points(xyz, min_points=1)


def _check_rgb(rgb: Any, n: int) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.shape != (n, 3):
        raise ZeropsError(f"colors must have shape ({n}, 3) to match the points, got {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
        raise ZeropsError("float colors must be finite and in [0, 1]; divide 0..255 colors by 255")
    return np.round(arr * 255.0).astype(np.uint8)


def _check_normals(normals: Any, n: int) -> np.ndarray:
    arr = np.asarray(normals, dtype=np.float32)
    if arr.shape != (n, 3):
        raise ZeropsError(f"normals must have shape ({n}, 3) to match the points, got {arr.shape}")
    norm = np.linalg.norm(arr, axis=1, keepdims=True)
    if not np.isfinite(arr).all():
        raise ZeropsError("normals contain NaN or inf")
    return np.where(norm > 0, arr / np.maximum(norm, 1e-12), 0.0).astype(np.float32)
