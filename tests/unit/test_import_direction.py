"""The import contract: layers, the libraries each layer may use, and no cycles.

- Layers: `server -> channels -> inbox`, `server -> inbox`; never the other way.
- What each layer may import is an allowlist (the standard library plus named packages), so a
  new framework creeping into the domain fails here, not in review.
- Inside `inbox/`, the module graph (every import, those inside functions included) has no
  cycle: a cycle broken by a function-level import is still a cycle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
# The third-party packages each layer may import, besides the standard library and the layers
# below it.
ALLOWED = {
    "inbox": {"inbox", "sqlalchemy", "msgspec", "alembic", "argon2", "phonenumbers", "nh3"},
    "channels": {
        "channels",
        "inbox",
        "sqlalchemy",
        "msgspec",
        "aiosmtplib",
        "aioimaplib",
        "httpx",
        "nh3",
        "phonenumbers",
    },
}


def imports_of(path: Path) -> list[str]:
    """Every absolute module name `path` imports, at any depth of the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_violations(package: str, files: Iterable[Path]) -> list[str]:
    wrong = []
    for path in files:
        for name in imports_of(path):
            root = name.split(".")[0]
            if root not in STDLIB and root not in ALLOWED[package]:
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
                wrong.append(f"{shown} imports {name}")
    return sorted(set(wrong))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that starts and ends on the same node, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def inbox_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in (ROOT / "inbox").rglob("*.py")}
    files = {m: p for m, p in files.items() if not m.startswith("inbox.migrations")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        graph[module] = {n for n in imports_of(path) if n in files and n != module}
    return graph


def test_each_layer_imports_only_what_it_may() -> None:
    for package in ALLOWED:
        files = sorted((ROOT / package).rglob("*.py"))
        assert files, f"{package}/ has no modules"
        assert layer_violations(package, files) == []


def test_the_domain_has_no_import_cycle() -> None:
    assert find_cycle(inbox_graph()) is None


def test_the_contract_catches_what_it_should(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import msgspec\nfrom server.app import create_app\n"
        "def later():\n    import litestar.params\n    import fastapi\n"
    )
    assert [w.split(" imports ")[1] for w in layer_violations("inbox", [module])] == [
        "fastapi",
        "litestar.params",
        "server.app",
        "server.app.create_app",
    ]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) is None
