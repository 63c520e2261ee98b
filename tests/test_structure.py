"""The package's structure: no import circle between zerops modules, no module over 400 lines, and the
subpackages' layering (a lower layer never imports a higher one)."""
from __future__ import annotations

import ast
from pathlib import Path

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


# layer of each subpackage and top-level module, lowest first; a module may import only its own layer or lower
# ones. Each name is a whole subpackage (no "io.results" entries): a subpackage sits on exactly one layer.
LAYERS = [
    {"errors", "limits", "arrays", "registry", "torchcheck", "config", "configcheck", "version", "signals"},
    {"geometry", "io"},
    {"render"},
    {"segmenters", "detectors", "cache", "partnames"},
    {"stages"},
    {"result", "runstate", "pipeline", "options"},
    {"eval", "viz", "output"},
    {"cli", "__main__", ""},
]
# inside ``stages``, the steps of a run in order; a step never imports a later one
STAGE_ORDER = ["grouping", "extension", "superpoints", "atomsplit", "evidence", "graphmerge", "treecut", "supportmerge",
               "votemerge", "partgraph", "merging", "labeling"]


def _layer(mod: str) -> int:
    rest = mod[len("zerops."):] if mod.startswith("zerops.") else ""
    top = rest.split(".")[0]
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"{mod} is in no layer of tests/test_structure.py")


def _rank(mod: str) -> tuple[int, int]:
    """(layer, step inside ``stages``; -1 for modules that are not a listed stage)."""
    parts = mod.split(".")
    step = STAGE_ORDER.index(parts[2]) if parts[1:2] == ["stages"] and parts[2:3] and parts[2] in STAGE_ORDER else -1
    return _layer(mod), step


def upward_imports(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Module -> the modules it imports from a higher layer (or, inside ``stages``, from a later step)."""
    out = {}
    for mod, targets in graph.items():
        (layer, step) = _rank(mod)
        up = sorted(t for t in targets if _rank(t)[0] > layer
                    or (_rank(t)[0] == layer and step >= 0 and _rank(t)[1] > step))
        if up:
            out[mod] = up
    return out


def test_each_subpackage_sits_on_one_layer():
    names = [n for layer in LAYERS for n in layer]
    assert len(names) == len(set(names)) and not [n for n in names if "." in n]
    tops = {m.split(".")[1] for m in import_graph() if m.count(".") >= 1}
    assert tops <= set(names), sorted(tops - set(names))
    assert set(STAGE_ORDER) <= {m.split(".")[2] for m in import_graph() if m.startswith("zerops.stages.")}


def test_the_layer_check_fails_on_an_upward_import():
    graph = {"zerops.io.convert": {"zerops.eval.partnete", "zerops.io.files"},      # io (1) -> eval (6)
             "zerops.render.renderer": {"zerops.io.load"},                        # render (2) -> io (1): fine
             "zerops.stages.grouping": {"zerops.stages.extension"},               # an earlier step -> a later one
             "zerops.stages.partgraph": {"zerops.stages.evidence", "zerops.config"}}
    assert upward_imports(graph) == {"zerops.io.convert": ["zerops.eval.partnete"],
                                     "zerops.stages.grouping": ["zerops.stages.extension"]}


def test_imports_go_down_the_layers():
    assert upward_imports(import_graph()) == {}


MAX_FUNCTION_LINES = 60


def test_long_functions_give_a_reason():
    """A function over 60 lines says why in its docstring (a line starting ``Long:``), or is split."""
    long = []
    for path, _ in _modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES and "Long:" not in (ast.get_docstring(node)
                                                                                           or ""):
                    long.append(f"{path.relative_to(SRC)}:{node.name}")
    assert long == []
