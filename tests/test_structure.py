"""The package's structure: no import circle between zerops modules, no module over 400 lines, and the
subpackages' layering (a lower layer never imports a higher one)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "zerops"
MAX_LINES = 400


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``)."""
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _known(name: str, mods: dict) -> str | None:
    """The longest prefix of ``name`` that is a zerops module (``zerops.io.cloud.PointCloud`` -> zerops.io.cloud)."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Module -> the zerops modules it imports anywhere in its body (also inside functions), plus the modules
    it names in ``"package.module:attribute"`` strings (lazy registry entries count as imports)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, (path, is_pkg) in mods.items():
        package = mod if is_pkg else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("zerops."):
                targets = [node.value.partition(":")[0]] if ":" in node.value else []
            for target in targets:
                hit = _known(target, mods)
                if hit is not None and hit != mod and target.startswith("zerops"):
                    graph[mod].add(hit)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}          # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_in_zerops():
    graph = import_graph()
    assert len(graph) > 60 and "zerops.stages.grouping" in graph["zerops.pipeline"]   # the graph is real
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_no_module_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p, _ in _modules().values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


# layer of each top-level name, lowest first; a module may import only its own layer or lower ones
LAYERS = [
    {"errors", "limits", "arrays", "registry", "torchcheck", "config", "version", "signals"},
    {"geometry", "io.cloud", "io.files", "io.palette", "io.ply", "io.pcd", "io.text", "io.readers", "io.mesh",
     "io.load", "io.outdir", "io.urdf"},
    {"render"},
    {"segmenters", "detectors", "cache", "partnames"},
    {"stages"},
    {"result", "pipeline", "options"},
    {"eval", "viz", "io.results", "io.resultdir", "io.export", "io.convert", "io"},
    {"cli", "__main__", ""},
]


def _layer(mod: str) -> int:
    rest = mod[len("zerops."):] if mod.startswith("zerops.") else ""
    for name in (rest, ".".join(rest.split(".")[:2]), rest.split(".")[0]):
        for i, layer in enumerate(LAYERS):
            if name in layer:
                return i
    raise AssertionError(f"{mod} is in no layer of tests/test_structure.py")


@pytest.mark.parametrize("mod", sorted(import_graph()))
def test_imports_go_down_the_layers(mod):
    up = sorted(t for t in import_graph()[mod] if _layer(t) > _layer(mod))
    assert up == [], f"{mod} (layer {_layer(mod)}) imports higher layers: {up}"
