"""The checks every config section runs on itself when built: number ranges, choices, sub-section types.

Each section of :mod:`zerops.config` calls :func:`check` in ``__post_init__`` (as SAM's mask generator checks
its knobs in its constructor); a bad value raises one :class:`~zerops.errors.ZeropsError` line that names
``section.field``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import MISSING, dataclass, fields
from typing import Any

from zerops.errors import ZeropsError

__all__ = ["Range", "number", "UNIT", "SHARE", "POS", "NONNEG", "K", "check", "check_sections"]


@dataclass(frozen=True)
class Range:
    """A closed (or, where ``lo_open`` / ``hi_open``, open) interval a number setting must lie in."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def holds(self, v: float) -> bool:
        return ((self.lo is None or (v > self.lo if self.lo_open else v >= self.lo))
                and (self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)))

    def __str__(self) -> str:
        def num(x: float | None) -> str:
            return str(int(x)) if x is not None and float(x).is_integer() else f"{x:g}"
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {num(self.lo)}"
        return f"in {'(' if self.lo_open else '['}{num(self.lo)}, {num(self.hi)}{')' if self.hi_open else ']'}"


UNIT = Range(0, 1)                 # a share or a score
SHARE = Range(0, 1, lo_open=True)  # a positive share
POS = Range(0, None, lo_open=True)
NONNEG = Range(0)
K = Range(1, 256)                  # neighbour counts (k-NN work and memory grow with k)


def number(section: str, name: str, value: Any, kind: type) -> int | float:
    """``value`` as ``kind`` (int: a whole number, bools refused; float: a finite real), else ZeropsError."""
    if isinstance(value, (bool, str)) or not isinstance(value, numbers.Real) or getattr(value, "shape", ()) != ():
        raise ZeropsError(f"{section}{name} must be a {'whole ' if kind is int else ''}number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ZeropsError(f"{section}{name} must be a finite number, got {value!r}")
    if kind is int:
        if float(value) != int(value):
            raise ZeropsError(f"{section}{name} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def check(obj: Any, section: str, rules: dict[str, Any]) -> None:
    """Check (and normalise: numpy scalars and whole floats to int, ints to float) every field of a frozen
    config section against its default's type and ``rules`` (a :class:`Range` or a tuple of choices);
    a bad value raises one ZeropsError line naming ``section.field``."""
    prefix = f"{section}." if section else ""
    for f in fields(obj):
        value = getattr(obj, f.name)
        default = f.default if f.default is not MISSING else None
        rule = rules.get(f.name)
        if isinstance(default, bool):
            if not isinstance(value, bool) and type(value).__name__ not in ("bool_", "bool"):
                raise ZeropsError(f"{prefix}{f.name} must be true or false, got {value!r}")
            value = bool(value)
        elif isinstance(rule, tuple):
            if value not in rule:
                raise ZeropsError(f"unknown {prefix}{f.name} {value!r}: use {' or '.join(rule)}")
        elif isinstance(default, (int, float)) or (rule is not None and value is not None):
            value = number(prefix, f.name, value, int if isinstance(default, int) else float)
            if isinstance(rule, Range) and not rule.holds(value):
                raise ZeropsError(f"{prefix}{f.name} must be {rule}, got {value!r}")
        object.__setattr__(obj, f.name, value)


def check_sections(obj: Any, section: str) -> None:
    """Every field whose default is a config section must hold one of that type (one ZeropsError line)."""
    prefix = f"{section}." if section else ""
    for f in fields(obj):
        kind = f.default_factory if f.default_factory is not MISSING else None
        if isinstance(kind, type) and not isinstance(getattr(obj, f.name), kind):
            raise ZeropsError(f"{prefix}{f.name} must be a {kind.__name__}, got {getattr(obj, f.name)!r}")
