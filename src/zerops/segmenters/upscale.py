"""Fast exact thresholding of upscaled SAM mask logits.

SAM's post-processing resizes the 256x256 low-resolution logits bilinearly (half-pixel centres) to the
padded model input (1024x1024), crops the part covering the resized image, resizes that bilinearly to
the original image size and thresholds at 0. Both resizes are linear, so per axis their composition is
one small matrix ``(out, 256)`` with at most a few non-zero taps per row, and the output is
``Wy @ logits @ Wx.T``. Its *sign* only is needed: every output pixel is a convex combination of a small
block of low-res logits, so where that block has one sign the output has it too. Only pixels whose block
mixes signs (a thin band along the mask's boundary) are evaluated exactly. The result equals the
two-stage float32 resize up to rounding at |logit| ~ 1e-6.
"""
from __future__ import annotations

import numpy as np

__all__ = ["linear_resize_matrix", "LogitUpscaler"]


def linear_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float64 matrix of a 1-D bilinear resize with half-pixel centres and edge clamping.

    The same sampling as ONNX ``Resize(mode=linear, coordinate_transformation_mode=half_pixel)`` and
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``.
    """
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    mat = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    np.add.at(mat, (rows, i0), 1.0 - frac)
    np.add.at(mat, (rows, i1), frac)
    return mat


class _AxisTaps:
    """Composite resize along one axis as (out,) first tap index + (out, T) weights of T taps."""

    def __init__(self, mat: np.ndarray) -> None:
        n_out, n_in = mat.shape
        nz = np.abs(mat) > 1e-12
        first = nz.argmax(axis=1)
        last = n_in - 1 - nz[:, ::-1].argmax(axis=1)
        self.n_taps = int((last - first).max()) + 1
        # Window start so that the T-tap window stays inside [0, n_in).
        self.start = np.minimum(first, n_in - self.n_taps).astype(np.int64)
        idx = self.start[:, None] + np.arange(self.n_taps)[None, :]
        self.weights = np.take_along_axis(mat, idx, axis=1).astype(np.float32)   # (out, T)
        self.n_in = n_in
        self.n_out = n_out


class LogitUpscaler:
    """Thresholded upscaling of low-res logits ``(N, h, w)`` to boolean masks ``(N, H, W)``.

    ``pad_hw`` / ``crop_hw`` describe SAM's padded model input (e.g. (1024, 1024)) and the region of it
    covered by the resized image; leave them ``None`` for a single direct resize (SAM 2 style).
    """

    def __init__(self, low_hw: tuple[int, int], out_hw: tuple[int, int],
                 pad_hw: tuple[int, int] | None = None, crop_hw: tuple[int, int] | None = None) -> None:
        self.low_hw = (int(low_hw[0]), int(low_hw[1]))
        self.out_hw = (int(out_hw[0]), int(out_hw[1]))
        axes = []
        for a in range(2):
            if pad_hw is None:
                mat = linear_resize_matrix(self.low_hw[a], self.out_hw[a])
            else:
                crop = int(crop_hw[a]) if crop_hw is not None else int(pad_hw[a])
                up = linear_resize_matrix(self.low_hw[a], int(pad_hw[a]))[:crop]
                mat = linear_resize_matrix(crop, self.out_hw[a]) @ up
            axes.append(_AxisTaps(mat))
        self._y, self._x = axes

    def __call__(self, logits: np.ndarray, threshold: float = 0.0) -> np.ndarray:
        """``logits`` (N, h, w) float32 -> (N, H, W) bool, ``upscaled > threshold``."""
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        n = logits.shape[0]
        ty, tx = self._y, self._x
        pos, mixed = self._blocks(logits, threshold)
        out = np.take(np.take(pos, ty.start, axis=1), tx.start, axis=2)               # (N, H, W)
        # Mixed blocks are few (a band along the boundary): find them at low resolution, then expand.
        nb, rb, cb = np.nonzero(mixed)
        if nb.size:
            oi, oj, on = _expand_cells(nb, rb, cb, ty.start, tx.start)
            out[on, oi, oj] = self._exact(logits, on, oi, oj) > threshold
        return out.reshape(n, *self.out_hw)

    def at(self, logits: np.ndarray, rows: np.ndarray, cols: np.ndarray, threshold: float = 0.0) -> np.ndarray:
        """The upscaled masks read at P pixels only: ``logits`` (N, h, w) float32, ``rows`` / ``cols`` (P,) int
        output pixel indices -> (N, P) bool, equal to ``self(logits, threshold)[:, rows, cols]``.

        The same decision as :meth:`__call__` per pixel (its block's sign where the block has one, else the
        exact value), without building the (N, H, W) masks: the cost is N × P plus the boundary band's pixels.
        """
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        cols = np.asarray(cols, dtype=np.int64).reshape(-1)
        n, h, w = logits.shape
        pos, mixed = self._blocks(logits, threshold)
        cell = self._y.start[rows] * w + self._x.start[cols]                           # (P,)
        out = pos.reshape(n, h * w)[:, cell]
        on, p = np.nonzero(mixed.reshape(n, h * w)[:, cell])
        if on.size:
            out[on, p] = self._exact(logits, on, rows[p], cols[p]) > threshold
        return out

    def areas(self, logits: np.ndarray, threshold: float = 0.0) -> np.ndarray:
        """(N,) int64 pixels of each upscaled mask, equal to ``self(logits, threshold).sum((1, 2))``: one-signed
        blocks count at low resolution (the output pixels that read them), only the boundary band is evaluated."""
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        n, h, w = logits.shape
        ty, tx = self._y, self._x
        pos, mixed = self._blocks(logits, threshold)
        reads = np.outer(np.bincount(ty.start, minlength=h), np.bincount(tx.start, minlength=w))   # (h, w)
        area = ((pos & ~mixed) * reads[None]).reshape(n, h * w).sum(axis=1).astype(np.int64)
        nb, rb, cb = np.nonzero(mixed)
        if nb.size:
            oi, oj, on = _expand_cells(nb, rb, cb, ty.start, tx.start)
            area += np.bincount(on[self._exact(logits, on, oi, oj) > threshold], minlength=n)
        return area

    def _blocks(self, logits: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """(N, h, w) bool: the low-res signs, and the cells whose (Ty, Tx) window holds both signs."""
        pos = logits > threshold
        any_pos = _window_reduce(pos, self._y.n_taps, self._x.n_taps, np.logical_or)
        all_pos = _window_reduce(pos, self._y.n_taps, self._x.n_taps, np.logical_and)
        return pos, any_pos & ~all_pos

    def _exact(self, logits: np.ndarray, on: np.ndarray, oi: np.ndarray, oj: np.ndarray) -> np.ndarray:
        """(M,) float32 upscaled values of items ``on`` at output pixels (``oi``, ``oj``), with the taps in float32."""
        ty, tx = self._y, self._x
        _, h, w = logits.shape
        base = on * (h * w) + ty.start[oi] * w + tx.start[oj]
        flat = logits.reshape(-1)
        wy, wx = ty.weights[oi], tx.weights[oj]
        val = np.zeros(base.shape, dtype=np.float32)
        for a in range(ty.n_taps):
            row = np.zeros(base.shape, dtype=np.float32)
            for b in range(tx.n_taps):
                row += wx[:, b] * flat[base + (a * w + b)]
            val += wy[:, a] * row
        return val


def _window_reduce(x: np.ndarray, ty: int, tx: int, op) -> np.ndarray:
    """``op``-reduce boolean (N, h, w) over windows [r, r+ty) x [c, c+tx) (clamped at the far edge)."""
    out = x.copy()
    for d in range(1, ty):
        out[:, :-d, :] = op(out[:, :-d, :], x[:, d:, :])
    tmp = out.copy()
    for d in range(1, tx):
        out[:, :, :-d] = op(out[:, :, :-d], tmp[:, :, d:])
    return out


def _expand_cells(nb: np.ndarray, rb: np.ndarray, cb: np.ndarray, start_y: np.ndarray,
                  start_x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output pixels (row, col, item) whose window start is one of the given low-res cells."""
    def ranges(start: np.ndarray, n_low: int):
        lo = np.searchsorted(start, np.arange(n_low), side="left")
        hi = np.searchsorted(start, np.arange(n_low), side="right")
        return lo, hi - lo
    n_low_y = int(max(start_y.max(), rb.max())) + 1
    n_low_x = int(max(start_x.max(), cb.max())) + 1
    ylo, ycnt = ranges(start_y, n_low_y)
    xlo, xcnt = ranges(start_x, n_low_x)
    my = int(ycnt.max()) if ycnt.size else 0
    mx = int(xcnt.max()) if xcnt.size else 0
    dy = np.arange(my)[None, :, None]
    dx = np.arange(mx)[None, None, :]
    ok = (dy < ycnt[rb][:, None, None]) & (dx < xcnt[cb][:, None, None])
    oi = np.broadcast_to(ylo[rb][:, None, None] + dy, ok.shape)[ok]
    oj = np.broadcast_to(xlo[cb][:, None, None] + dx, ok.shape)[ok]
    on = np.broadcast_to(nb[:, None, None], ok.shape)[ok]
    return oi, oj, on
