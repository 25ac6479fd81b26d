"""Prove that the runtime code needs nothing beyond requirements.txt.

Run with the interpreter of an environment built from requirements.txt alone (the production
install stage of .ci/run). Two checks over every module that ships (tests, conftest files and the
dev-only code generator excluded):

1. statically, every `import` and `from ... import` anywhere in a module, including the ones
   inside functions that only run later, names a standard-library module, a project module, or a
   module this environment can find;
2. every such module imports, after django.setup() with the production settings.

Exits 1 with the list of what is missing.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("energyleaf", "sensors", "analytics", "exports", "reports", "simulation")
TOP_LEVEL_FILES = ("manage.py", "gunicorn.conf.py", "dev.py")
# Run by developers only, with requirements-dev.txt: regenerates the protobuf code (grpcio-tools).
DEV_ONLY = {"sensors.protobuf.generate", "analytics.api.protobuf.generate"}


def shipped_files() -> list[Path]:
    files = [ROOT / name for name in TOP_LEVEL_FILES]
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or path.name == "conftest.py":
                continue
            files.append(path)
    return files


def module_name(path: Path) -> str | None:
    relative = path.relative_to(ROOT)
    if len(relative.parts) == 1:
        return None  # a script, not importable as a module
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energyleaf.settings.base")
    sys.path.insert(0, str(ROOT))
    project = set(PACKAGES)
    problems: list[str] = []
    modules: list[str] = []
    for path in shipped_files():
        name = module_name(path)
        if name in DEV_ONLY:
            continue
        for root in sorted(imported_roots(path)):
            if root in sys.stdlib_module_names or root in project or root == "__future__":
                continue
            if importlib.util.find_spec(root) is None:
                problems.append(f"{path.relative_to(ROOT)}: imports {root!r}, not installed")
        if name:
            modules.append(name)

    import django

    django.setup()
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # report every failure, then fail
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
    if problems:
        print("runtime imports missing from requirements.txt:", *problems, sep="\n  ")
        return 1
    print(f"runtime imports: {len(modules)} modules import with requirements.txt alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
