"""The shape of the package, checked from its source: who may import the composition root, no import
cycles, ``core/`` free of features, files a reader can hold in mind."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "shared" / "llm_gateway"
COMPOSITION_ROOT = "llm_gateway.gateway"
MAY_IMPORT_THE_ROOT = ("llm_gateway.gateway", "llm_gateway.api", "llm_gateway.local", "llm_gateway.cli")
FEATURES = ("cache", "guardrails", "idempotency", "routing", "telemetry", "tenants")
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The module ``name`` refers to (``pkg.module.attribute`` -> ``pkg.module``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    """Every package module ``module`` imports: at the top, inside functions and under TYPE_CHECKING
    (a deferred import is still a dependency), and the packages an import runs (``a.b.c`` runs ``a.b``)."""
    path = MODULES[module]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            target = _resolve(name) if name.startswith("llm_gateway") else None
            while target:  # the module and the packages above it
                if target != module and not module.startswith(target + "."):
                    found.add(target)
                target = target.rpartition(".")[0] if "." in target else None
    found.discard("llm_gateway")  # the top package only holds the version
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles() -> Iterator[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in sorted(GRAPH[node]):
            if child not in index:
                yield from visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                yield sorted(component)

    for node in sorted(GRAPH):
        if node not in index:
            yield from visit(node)


def test_the_graph_sees_the_imports() -> None:
    assert "llm_gateway.gateway" in GRAPH["llm_gateway.api.app"]
    assert "llm_gateway.tables.memory" in GRAPH["llm_gateway.routing.health"]
    assert "llm_gateway.tables" in GRAPH["llm_gateway.routing.health"]  # the package an import runs


def test_only_the_entry_points_import_the_composition_root() -> None:
    importers = sorted(module for module, imported in GRAPH.items() if COMPOSITION_ROOT in imported)
    assert importers, "the check finds nothing: the graph is wrong"
    strays = [m for m in importers if not any(m == p or m.startswith(p + ".") for p in MAY_IMPORT_THE_ROOT)]
    assert strays == []


def test_there_are_no_import_cycles() -> None:
    assert list(_cycles()) == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("llm_gateway.core.")))
def test_core_imports_no_feature(module: str) -> None:
    features = [f"llm_gateway.{feature}" for feature in FEATURES]
    assert sorted(m for m in GRAPH[module] if any(m == f or m.startswith(f + ".") for f in features)) == []


def test_no_file_is_over_600_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for folder in ("shared", "handlers", "tests", "bench")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


def test_the_documented_layer_order_is_the_built_one() -> None:
    import re

    from tests.support.gateway import make_gateway

    config = {
        "models": [{"name": "m", "provider": "mock", "model": "m", "id": "d1"}],
        "cache": {"mode": "on"},
        "tenants": {"model_limits": {"d1": {"rpm": 5}}},
    }
    built = make_gateway(config, metrics_sink=lambda line: None).ensure_ready().layers
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| \d+ \| `([a-z_]+)` \|", page, flags=re.MULTILINE)
    assert documented == built
