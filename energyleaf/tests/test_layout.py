"""The layout rule of docs/architecture.md, checked on every app: which names may stand at an
app's top level and what a package's `__init__` may hold (no signals: test_explicit_calls.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "energyleaf/users",
    "energyleaf/audit",
    "energyleaf/demo",
    "energyleaf/legacy",
    "sensors",
    "analytics",
    "exports",
    "reports",
)
# docs/architecture.md, "The layout of an app".
ALLOWED = frozenset(
    {
        "__init__.py",
        "apps.py",
        "models.py",
        "models",
        "services.py",
        "services",
        "selectors.py",
        "selectors",
        "compute",
        "api",
        "protobuf",
        "admin.py",
        "admin",
        "tasks.py",
        "management",
        "migrations",
        "templates",
        "tests",
    }
)
LAYER_PACKAGES = ("services", "selectors", "compute", "admin", "api")


def _entries(app: str) -> list[str]:
    return sorted(
        entry.name
        for entry in (ROOT / app).iterdir()
        if entry.name != "__pycache__" and not entry.name.startswith(".")
    )


@pytest.mark.parametrize("app", APPS)
def test_an_app_holds_only_the_names_of_the_layout_rule(app: str) -> None:
    assert [name for name in _entries(app) if name not in ALLOWED] == []


def _package_inits() -> list[Path]:
    return sorted(
        init
        for app in APPS
        for layer in LAYER_PACKAGES
        for init in (ROOT / app / layer).rglob("__init__.py")
        if "tests" not in init.parts
    )


def _is_reexport_or_docstring(node: ast.stmt) -> bool:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return True  # the docstring
    if isinstance(node, ast.ImportFrom):
        return node.level >= 1 or node.module == "__future__"  # the package's own modules
    if isinstance(node, ast.Assign):
        return [getattr(target, "id", None) for target in node.targets] == ["__all__"]
    return False


@pytest.mark.parametrize("init", _package_inits(), ids=lambda path: str(path.relative_to(ROOT)))
def test_a_package_init_holds_a_docstring_and_reexports_only(init: Path) -> None:
    tree = ast.parse(init.read_text(encoding="utf-8"))
    assert tree.body, "a package __init__ says in a docstring what its modules are"
    assert isinstance(tree.body[0], ast.Expr)
    assert isinstance(tree.body[0].value, ast.Constant)
    stray = [node.lineno for node in tree.body if not _is_reexport_or_docstring(node)]
    assert stray == []
