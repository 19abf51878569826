"""Imports flow one way: server -> channels -> inbox. inbox/ never sees HTTP or protocols."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "inbox": {
        "server",
        "channels",
        "litestar",
        "uvicorn",
        "websockets",
        "redis",
        "aiosmtplib",
        "aioimaplib",
        "httpx",
    },
    "channels": {"server", "litestar", "uvicorn"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_import_points_the_wrong_way() -> None:
    wrong = []
    for package, forbidden in FORBIDDEN.items():
        files = sorted((ROOT / package).rglob("*.py"))
        assert files, f"{package}/ has no modules"
        for path in files:
            for name in imported_roots(path) & forbidden:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from server.app import create_app\nimport litestar.params\n")
    assert imported_roots(module) == {"server", "litestar"}
