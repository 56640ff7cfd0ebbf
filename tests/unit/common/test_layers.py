"""The import rules of ARCHITECTURE.md and the README's layout, read from the source (ast, nothing imported):

- network services import only services.common, never each other; services.common imports no service; the
  operator tools (cli, launcher, deploy) may import the proxy's renderer and the launcher besides;
- inside core, api/ reaches services and models, never a store; no two of core's packages import each
  other, however indirectly (the package graph has no cycle);
- every import of a services module is at module level and outside `if TYPE_CHECKING:`, so a loop cannot
  hide behind a late import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[3] / "services"
NETWORK_SERVICES = {"registry", "token", "core", "log", "jobservice", "proxy"}
TOOLS = {"cli", "launcher", "deploy"}
# What each tool may import besides services.common.
TOOL_IMPORTS = {"cli": {"launcher", "proxy", "cli"}, "launcher": {"proxy", "launcher"}, "deploy": {"proxy", "deploy"}}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SERVICES.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SERVICES.rglob("*.py")):
        yield _module_name(path), ast.parse(path.read_text(), str(path))


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.module is None or node.level:
        return []
    # `from services.core.artifacts import store` imports the module services.core.artifacts.store.
    return [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]


def _top_level_imports(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names += [n for n in _imported(node) if n.startswith("services.")]
    return names


MODULES = dict(_modules())


def _late_imports(tree: ast.Module) -> list[str]:
    """Imports of services modules anywhere but at module level (in functions, classes, `if` blocks)."""
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
            found += [f"line {node.lineno}: {n}" for n in _imported(node) if n.startswith("services.")]
    return found


def test_every_services_import_is_at_module_level() -> None:
    late = {name: found for name, tree in MODULES.items() if (found := _late_imports(tree))}
    assert late == {}


def test_services_depend_only_on_common_and_tools_on_what_they_operate() -> None:
    wrong = []
    for name, tree in MODULES.items():
        if name == "services":
            continue
        service = name.split(".")[1]
        for imported in _top_level_imports(tree):
            target = imported.split(".")[1]
            if target in (service, "common"):
                continue
            if service in TOOLS and target in TOOL_IMPORTS[service]:
                continue
            wrong.append(f"{name} imports {imported}")
    assert wrong == []


def _core_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["services", "core"] else None


def _core_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, tree in MODULES.items():
        source = _core_package(name)
        if source is None:
            continue
        for imported in _top_level_imports(tree):
            target = _core_package(imported)
            if target is not None and target != source and imported in MODULES:
                graph.setdefault(source, set()).add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_two_core_packages_import_each_other() -> None:
    assert _cycle(_core_graph()) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("services.core.api.")))
def test_core_api_reaches_services_and_models_never_a_store(name: str) -> None:
    stores = [i for i in _top_level_imports(MODULES[name]) if i.split(".")[-1].endswith("store") and i in MODULES]
    assert stores == []
