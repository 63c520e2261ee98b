"""Bounds zerops checks before it allocates anything, so a hostile or mistyped input ends in one error line
instead of exhausting memory (see README, "What zerops checks and guarantees")."""
from __future__ import annotations

import math
import numbers
import os

from zerops.errors import ZeropsError

#: Most points a cloud may hold, a mesh may be sampled to (``--points``) or a file may declare.
MAX_POINTS = 50_000_000
#: Most rows (vertices + faces + other elements) a PLY header may declare.
MAX_PLY_ROWS = 4 * MAX_POINTS
#: Longest PLY header zerops reads (comments included) and longest line of a text cloud.
MAX_PLY_HEADER = 16 << 20
MAX_TEXT_LINE = 1 << 20
#: Largest texture image (pixels) a mesh's colors are sampled from, read from the image header before decoding.
MAX_TEXTURE_PIXELS = 8192 * 8192
#: Largest square view (``--image-size``) zerops renders.
MAX_IMAGE_SIZE = 4096
#: Largest fixed or floor splat radius (``render.point_radius`` / ``min_point_radius``, NDC): 10 × the spec's
#: 0.005, 20 px at 800 px. A splat's cost grows with its area: 20 views of 10,000 points take 1.7 s at 0.05,
#: 19 s at 0.1, and at 1 every splat covers the image (minutes per shape).
MAX_SPLAT_RADIUS = 0.05
#: Fewest points `zerops segment` works on (region growing and superpoints need 4); checked before SAM.
MIN_SEGMENT_POINTS = 4
#: Longest file name zerops creates for ``--out`` (the file system's 255 less its temporary sibling's affixes).
MAX_OUT_NAME = 255 - 40
#: Largest ``label.npy`` the restricted unpickler reads (two int64 arrays of MAX_POINTS labels + slack).
MAX_LABEL_BYTES = 2 * 8 * MAX_POINTS + (1 << 20)
#: Most pickle opcodes and nesting depth (MARK frames) the restricted unpickler accepts.
MAX_PICKLE_OPS = 10_000
MAX_PICKLE_DEPTH = 16
#: Most times a point-cloud .npz may unpack to its packed size (as Pillow's MAX_IMAGE_PIXELS bounds images):
#: real clouds pack 1-5 times; 40 million identical points pack 240 times. Checked once the archive unpacks to
#: over RATIO_FLOOR bytes; the environment variable ZEROPS_MAX_COMPRESSION_RATIO raises (or lowers) it.
MAX_COMPRESSION_RATIO = 100
RATIO_FLOOR = 64 << 20
#: Most threads ZEROPS_THREADS may ask the SAM runtime for (onnxruntime crashes long before 99,999).
MAX_THREADS = 256


def compression_ratio_limit() -> float:
    """MAX_COMPRESSION_RATIO, or the number in $ZEROPS_MAX_COMPRESSION_RATIO (at least 1); one line if bad."""
    text = os.environ.get("ZEROPS_MAX_COMPRESSION_RATIO", "").strip()
    if not text:
        return float(MAX_COMPRESSION_RATIO)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise ZeropsError(f"ZEROPS_MAX_COMPRESSION_RATIO must be a number >= 1, got {text[:40]!r}")
    return value


def env_threads() -> int | None:
    """The thread count in $ZEROPS_THREADS (None when unset or empty), a whole number in [1, MAX_THREADS]."""
    text = os.environ.get("ZEROPS_THREADS", "").strip()
    if not text:
        return None
    if not text.isdecimal() or not 1 <= int(text) <= MAX_THREADS:
        raise ZeropsError(f"ZEROPS_THREADS must be a whole number from 1 to {MAX_THREADS:,}, got {text[:40]!r}")
    return int(text)


def check_points(n: object, what: str = "--points", minimum: int = 1) -> int:
    """``n`` as an int if it is a whole number in [minimum, MAX_POINTS], else ZeropsError naming ``what``."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ZeropsError(f"{what} must be a whole number, got {n!r}")
    n = int(n)
    if n < minimum:
        raise ZeropsError(f"{what} must be at least {minimum}, got {n}")
    if n > MAX_POINTS:
        raise ZeropsError(f"{what} is {n:,}; zerops handles at most {MAX_POINTS:,} points")
    return n
