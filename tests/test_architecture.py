"""The package's layers and which may import which (README, Architecture), enforced on every import.

Every ``import`` / ``from ... import`` of a ``bigearth`` module counts, those inside functions (lazy imports)
included. A package ``__init__`` is the package itself.
"""

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src"

#: Layer -> the top-level parts of ``bigearth`` in it.
LAYERS: dict[str, tuple[str, ...]] = {
    "core": ("bigearth", "bigearth.errors", "bigearth.atomic", "bigearth.nomenclature", "bigearth.bands",
             "bigearth.parallel", "bigearth._optional", "bigearth.recipes", "bigearth.progress", "bigearth.quiet",
             "bigearth.runinfo", "bigearth.suggest"),
    "data": ("bigearth.data", "bigearth.construct", "bigearth.text", "bigearth.sampling"),
    "networks": ("bigearth.models", "bigearth.ssl"),
    "slimming": ("bigearth.slim",),
    "folders": ("bigearth.folders",),
    "applied": ("bigearth.features", "bigearth.evaluation", "bigearth.retrieval"),
    "tasks": ("bigearth.tasks",),
    "cli": ("bigearth.cli", "bigearth.__main__"),
}  # fmt: skip
#: Layer -> the layers it may import (besides its own).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "data": {"core"},
    "networks": {"core"},
    "slimming": {"core", "networks"},
    "folders": {"core", "networks", "slimming"},
    "applied": {"core", "data", "networks", "slimming", "folders"},
    "tasks": {"core", "data", "networks", "slimming", "folders", "applied"},
    "cli": {"core", "data", "networks", "slimming", "folders", "applied", "tasks"},
}


def module_names() -> dict[str, Path]:
    names = {}
    for path in sorted((SOURCE / "bigearth").rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


MODULES = module_names()


def imported_names(name: str, path: Path) -> set[str]:
    """Return every ``bigearth`` name that ``name`` imports from (a ``from package import module`` names the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "bigearth"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module.split(".")[0] != "bigearth":
                continue
            for alias in node.names:
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module)
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Return the bigearth modules that ``name`` imports."""
    return {module for module in imported_names(name, path) if module in MODULES and module != name}


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def layer_of(name: str) -> str:
    best = max((prefix for parts in LAYERS.values() for prefix in parts
                if name == prefix or name.startswith(prefix + ".")), key=len)  # fmt: skip
    return next(layer for layer, parts in LAYERS.items() if best in parts)


def test_every_import_names_a_module_that_exists() -> None:
    missing = {name: sorted(found - set(MODULES)) for name, path in MODULES.items()
               if (found := imported_names(name, path)) - set(MODULES)}  # fmt: skip
    assert not missing, f"imports of modules that do not exist: {missing}"


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        assert layer_of(name) in LAYERS


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_follow_the_layers(name: str) -> None:
    own = layer_of(name)
    wrong = sorted(module for module in GRAPH[name] if layer_of(module) not in ALLOWED[own] | {own})
    assert not wrong, f"{name} ({own}) imports {wrong}; {own} may import {sorted(ALLOWED[own])}"


def test_networks_import_neither_slimming_nor_folders_nor_data() -> None:
    networks = [name for name in MODULES if layer_of(name) == "networks"]
    for name in networks:
        assert not {layer_of(module) for module in GRAPH[name]} & {"slimming", "folders", "data", "tasks"}, name


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the import circles of ``graph``: Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_circle() -> None:
    assert not circles(GRAPH), f"import circles: {circles(GRAPH)}"


def test_the_checker_sees_lazy_imports_and_circles(tmp_path: Path) -> None:
    """The checker itself: a function-level import is found and breaks the rule; circles are found."""
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from bigearth.folders.format import CONFIG_FILE\n    return CONFIG_FILE\n")
    assert imports_of("bigearth.models.lazy", module) == {"bigearth.folders.format"}
    assert layer_of("bigearth.models.lazy") == "networks"
    assert "folders" not in ALLOWED["networks"]
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
