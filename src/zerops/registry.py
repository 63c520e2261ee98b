"""The one plug-in registry, used for segmenters, detectors and evaluation methods.

A :class:`Registry` maps names to factories. Entries are declared as ``"package.module:attribute"`` strings and
imported on first use, so nothing registers itself as an import side effect and optional dependencies
(transformers, torch) load only when their entry is asked for. Every factory has one signature::

    factory(**options)           for a spec "name"
    factory(arg, **options)      for a spec "name:arg"   (e.g. "hf:facebook/sam-vit-base", "oracle:glip-like")

A spec that names no entry but has the form ``package.module:Attribute`` loads that attribute as a plug-in
and calls it with ``**options``.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

from zerops.errors import ZeropsError

__all__ = ["Registry", "load_plugin_class"]


def load_plugin_class(spec: str, kind: str) -> Any:
    """The attribute named by ``package.module:Name`` (``kind``, e.g. "segmenter", is used in errors)."""
    mod_name, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as err:
        raise ZeropsError(f"cannot import {kind} module '{mod_name}' ({err})") from None
    obj = getattr(mod, attr, None)
    if obj is None:
        raise ZeropsError(f"module '{mod_name}' has no '{attr}'")
    return obj


class Registry:
    """Named factories of one kind of plug-in.

    Args:
        kind: what the entries build ("segmenter", "detector", "method"), for messages.
        entries: name -> factory or lazy ``"module:attribute"``; names contain no ':'.
        args: name -> (what follows ``name:``, whether it is required), for the entries that take one,
            e.g. ``{"hf": ("model id or folder", True)}``; the other entries refuse ``name:arg``.
        check: ``check(obj, spec) -> obj`` applied to plug-ins loaded from ``module:Class`` specs.
        plugin_hint: how :meth:`available` spells a plug-in spec.
    """

    def __init__(self, kind: str, entries: Mapping[str, Callable[..., Any] | str] | None = None,
                 args: Mapping[str, tuple[str, bool]] | None = None, check: Callable[[Any, str], Any] | None = None,
                 plugin_hint: str = "<module>:<Class>") -> None:
        self.kind = kind
        self.args = dict(args or {})
        self.plugin_hint = plugin_hint
        self._check = check
        self._entries: dict[str, Callable[..., Any] | str] = {}
        for name, factory in (entries or {}).items():
            self.register(name, factory)

    def register(self, name: str, factory: Callable[..., Any] | str) -> None:
        """Add or replace ``name`` (a factory, or a lazy ``"module:attribute"`` string)."""
        if not isinstance(name, str) or not name or ":" in name:
            raise ZeropsError(f"a {self.kind} name must be a non-empty string without ':', got {name!r}")
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise ZeropsError(f"the {self.kind} '{name}' needs a factory or a 'module:attribute' string")
        self._entries[name] = factory

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def available(self) -> list[str]:
        """The registered names (with their argument) and the plug-in spelling, for messages and help."""
        out = []
        for name in self.names():
            what, required = self.args.get(name, ("", False))
            out.append(f"{name}:<{what}>" if required else f"{name}[:{what}]" if what else name)
        return out + [self.plugin_hint]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def factory(self, name: str) -> Callable[..., Any]:
        """The factory of ``name``, importing a lazy entry on first use."""
        if name not in self._entries:
            raise ZeropsError(f"unknown {self.kind} '{name}': use one of {', '.join(self.available())}")
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = self._entries[name] = load_plugin_class(entry, self.kind)
        return entry

    def resolve(self, spec: str) -> tuple[Callable[..., Any], tuple[str, ...], bool]:
        """``spec`` -> (factory, positional args, is a module:Class plug-in)."""
        if not isinstance(spec, str) or not spec:
            raise ZeropsError(f"the {self.kind} must be named by a non-empty string: use one of "
                              f"{', '.join(self.available())}")
        head, sep, rest = spec.partition(":")
        if head in self._entries:
            what, required = self.args.get(head, ("", False))
            if required and not rest:
                raise ZeropsError(f"the {self.kind} '{head}' needs a {what}: {head}:<{what}>")
            if rest and not what:
                raise ZeropsError(f"the {self.kind} '{head}' takes no ':' argument, got '{spec}'")
            return self.factory(head), ((rest,) if rest else ()), False
        if sep:
            return load_plugin_class(spec, self.kind), (), True
        raise ZeropsError(f"unknown {self.kind} '{spec}': use one of {', '.join(self.available())}")

    def create(self, spec: str, **options: Any) -> Any:
        """Build the plug-in named by ``spec`` with keyword ``options``."""
        factory, args, plugin = self.resolve(spec)
        obj = factory(*args, **options)
        return self._check(obj, spec) if plugin and self._check is not None else obj
