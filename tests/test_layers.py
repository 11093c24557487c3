"""The helpers package keeps its layers: lessons -> models -> offline -> shared, never upwards, no cycles.

Every import under helpers/ counts, also those inside functions, because a lazy import is still a
dependency a reader has to follow.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "helpers"
SHARED = {"helpers.errors", "helpers.display", "helpers.plotting", "helpers.catalog"}
# Higher imports lower; equal ranks may import each other (within a layer) as long as there is no cycle.
RANK = {"shared": 0, "offline": 1, "models": 2, "lessons": 3, "commands": 4}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    if module in SHARED:
        return "shared"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("offline", "models", "lessons"):
        return parts[1]
    return "commands"  # helpers itself, helpers.run_notebooks and other entry points


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The helpers modules that `path` imports, anywhere in the file."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            names = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            # the longest helpers module that the name starts with (`from . import x` names module x)
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    graph = {module_name(p): imports_of(p, known) for p in paths}
    # importing a subpackage's module imports its package first; that edge is not a dependency
    for module, targets in graph.items():
        targets -= {t for t in targets if module.startswith(t + ".")}
    return graph


def test_the_graph_sees_relative_and_lazy_imports():
    graph = import_graph()
    assert "helpers.offline.cache" in graph["helpers.offline.tiny_chat_model"]
    assert "helpers.models.runtime" in graph["helpers.lessons.vision"]
    assert "helpers.plotting" in graph["helpers.lessons.sampling"]  # imported inside a function


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{source} ({layer_of(source)}) imports {target} ({layer_of(target)})"
            for source, targets in sorted(graph.items()) for target in sorted(targets)
            if RANK[layer_of(target)] > RANK[layer_of(source)]]


def test_imports_only_go_down_the_layers():
    wrong = upward_imports(import_graph())
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycles():
    graph = import_graph()
    graph.pop("helpers")  # the package's front door re-exports; nothing inside imports it back
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_catch_an_upward_import_and_a_cycle():
    graph = {"helpers.offline.a": {"helpers.lessons.b"}, "helpers.lessons.b": {"helpers.offline.a"}}
    assert find_cycle(graph) == ["helpers.lessons.b", "helpers.offline.a", "helpers.lessons.b"]
    assert upward_imports(graph) == ["helpers.offline.a (offline) imports helpers.lessons.b (lessons)"]
    assert upward_imports({"helpers.models.x": {"helpers.errors"}, "helpers.errors": {"helpers.models.x"}}) == [
        "helpers.errors (shared) imports helpers.models.x (models)"]


@pytest.mark.parametrize("layer", ["lessons", "models", "offline"])
def test_every_layer_says_what_it_holds(layer):
    assert ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text(encoding="utf-8")))


def test_every_lesson_module_names_its_notebook():
    for path in sorted((PACKAGE / "lessons").glob("*.py")):
        if path.name == "__init__.py":
            continue
        first_line = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))).splitlines()[0]
        assert "notebook" in first_line.lower() or "Notebook" in first_line, (path.name, first_line)
