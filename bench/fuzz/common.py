"""What every harness shares: Django set up in-process, instrumentation, the seed corpus.

A harness is a script `fuzz_<name>.py` with `check(data: bytes) -> None` that raises only for a
real defect. `main(check, instrument=...)` hands it to libFuzzer; `run.py` starts each harness
in its own process with a time bound and a corpus directory.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import sys
import tempfile
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def django_setup() -> None:
    """The test settings (SQLite, LocMem cache, eager Celery) in a private var folder."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energyleaf.settings.test")
    os.environ.pop("DATABASE_URL", None)
    if "ENERGYLEAF_VAR_DIR" not in os.environ:
        os.environ["ENERGYLEAF_VAR_DIR"] = tempfile.mkdtemp(prefix="energyleaf-fuzz-")
    import django

    django.setup()


def instrument_modules(*names: str) -> None:
    """Coverage instrumentation of every function and method defined in these modules (they are
    imported by Django's setup already, so `atheris.instrument_imports` comes too late)."""
    import atheris  # type: ignore[import-untyped]

    for name in names:
        module = sys.modules.get(name) or __import__(name, fromlist=["_"])
        for value in list(vars(module).values()):
            for function in _functions_of(value, module.__name__):
                atheris.instrument_func(function)


def _functions_of(value: Any, module_name: str) -> Iterable[types.FunctionType]:
    if isinstance(value, types.FunctionType) and value.__module__ == module_name:
        yield value
    elif isinstance(value, type) and value.__module__ == module_name:
        for member in vars(value).values():
            target = getattr(member, "__func__", member)
            if isinstance(target, types.FunctionType):
                yield target


def main(check: Callable[[bytes], None], *, instrument: Iterable[str] = ()) -> None:
    """Fuzz `check` (libFuzzer arguments on the command line); with `--line-coverage CORPUS`
    instead replay every file of CORPUS and print the line coverage of the instrumented
    modules as one `LINE-COVERAGE {json}` line."""
    modules = list(instrument)
    if len(sys.argv) == 3 and sys.argv[1] == "--line-coverage":
        report = line_coverage(check, Path(sys.argv[2]), modules)
        print("LINE-COVERAGE " + json.dumps(report), flush=True)
        return
    import atheris  # type: ignore[import-untyped]

    instrument_modules(*modules)
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


def line_coverage(
    check: Callable[[bytes], None], corpus: Path, modules: list[str]
) -> dict[str, list[int]]:
    """{module: [lines run, executable lines]} over replaying the corpus (failures ignored)."""
    files = {}
    for name in modules:
        module = sys.modules.get(name) or __import__(name, fromlist=["_"])
        if module.__file__:
            files[str(Path(module.__file__).resolve())] = name
    executable = {path: _executable_lines(Path(path)) for path in files}
    hit: dict[str, set[int]] = {path: set() for path in files}

    def tracer(frame: types.FrameType, event: str, arg: Any) -> Any:
        path = frame.f_code.co_filename
        if path not in hit:
            return None
        if event == "line":
            hit[path].add(frame.f_lineno)
        return tracer

    inputs = [path.read_bytes() for path in sorted(corpus.iterdir()) if path.is_file()]
    sys.settrace(tracer)
    try:
        for data in inputs:
            with contextlib.suppress(Exception):
                check(data)
    finally:
        sys.settrace(None)
    return {
        files[path]: [len(hit[path] & executable[path]), len(executable[path])] for path in files
    }


def _executable_lines(path: Path) -> set[int]:
    """Lines of the function bodies in the file (module and class bodies run at import)."""
    lines: set[int] = set()
    pending = [compile(path.read_text(), str(path), "exec")]
    while pending:
        code = pending.pop()
        if code.co_flags & inspect.CO_OPTIMIZED:
            lines.update(
                line
                for _, _, line in code.co_lines()
                if line is not None and line != code.co_firstlineno
            )
        pending.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return lines
