"""No signals: apps call each other's services explicitly (docs/design.md, "Explicit calls
instead of signals"), and only the sensors' services write `Sensor.user` (each of them keeps the
assignment periods in step, so no write can bypass them).

Both checks read the project's own source: not `.venv`, `var`, tests or migrations.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_PARTS = {".venv", "var", "tests", "migrations", "node_modules", ".git"}
# Django's migrate hook is no application signal: it runs after `migrate` (and a test flush) so
# the role groups get the permissions of every app; django.contrib.auth creates its
# permissions the same way.
ALLOWED_SIGNALS = {("energyleaf/users/apps.py", "post_migrate")}
SIGNAL_MODULE = re.compile(r"(^|\.)signals$|^django\.dispatch$")


def source_files(*, skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if SKIPPED_PARTS.intersection(relative.parts) or relative.parts[0] in skip:
            continue
        yield relative.as_posix(), ast.parse(path.read_text(), filename=str(relative))


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        return _name(node.func)
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def signal_uses(relative: str, tree: ast.Module) -> Iterator[str]:
    if Path(relative).name == "signals.py":
        yield f"{relative}: a signals module"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and SIGNAL_MODULE.search(node.module or ""):
            for alias in node.names:
                if (relative, alias.name) not in ALLOWED_SIGNALS:
                    yield f"{relative}:{node.lineno}: imports {alias.name} from {node.module}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if SIGNAL_MODULE.search(alias.name):
                    yield f"{relative}:{node.lineno}: imports {alias.name}"
        elif isinstance(node, ast.Call) and _name(node.func) == "Signal":
            yield f"{relative}:{node.lineno}: defines a Signal"
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            _name(decorator) == "receiver" for decorator in node.decorator_list
        ):
            yield f"{relative}:{node.lineno}: @receiver {node.name}"


def test_no_signals_or_receivers_in_the_project() -> None:
    offenders = [use for relative, tree in source_files() for use in signal_uses(relative, tree)]
    assert offenders == []


def test_the_check_finds_a_receiver() -> None:
    code = (
        "from django.db.models.signals import post_save\n"
        "from django.dispatch import Signal, receiver\n"
        "changed = Signal()\n"
        "@receiver(post_save)\n"
        "def on_save(sender, **kwargs): ...\n"
    )
    found = list(signal_uses("sensors/hooks.py", ast.parse(code)))
    assert len(found) == 5, found


SENSOR_SERVICES = "sensors/services/"
# The benchmarks seed thousands of sensors in bulk, as the test factories do; they are no path
# of the running system.
NOT_THE_SYSTEM = frozenset({"bench"})


def sensor_user_writes(relative: str, tree: ast.Module) -> Iterator[str]:
    """Writes of a sensor's household: `Sensor(user=...)`, `Sensor.objects.create(user=...)`
    (and the other manager writes), `<sensors>.update(user=...)`, `sensor.user = ...`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            keywords = {keyword.arg for keyword in node.keywords}
            if not keywords & {"user", "user_id"}:
                continue
            callee = ast.unparse(node.func)
            writes = ("create", "get_or_create", "update_or_create", "update")
            if callee == "Sensor" or (
                _name(node.func) in writes and re.search(r"Sensor\b|sensor", callee)
            ):
                yield f"{relative}:{node.lineno}: {callee}(user=...)"
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr in ("user", "user_id")
                    and "sensor" in ast.unparse(target.value).lower()
                ):
                    yield f"{relative}:{node.lineno}: {ast.unparse(target)} = ..."


def test_only_the_sensors_services_write_a_sensors_household() -> None:
    offenders = [
        write
        for relative, tree in source_files(skip=NOT_THE_SYSTEM)
        if not relative.startswith(SENSOR_SERVICES)
        for write in sensor_user_writes(relative, tree)
    ]
    assert offenders == []


def test_the_check_finds_a_write_of_the_household() -> None:
    code = (
        "Sensor(client_id='x', user=u)\n"
        "Sensor.objects.create(client_id='x', user=u)\n"
        "Sensor.objects.filter(pk=1).update(user=None)\n"
        "sensor.user = u\n"
        "sensor.user_id = 3\n"
        "Report.objects.create(user=u)\n"
    )
    found = list(sensor_user_writes("reports/services/x.py", ast.parse(code)))
    assert len(found) == 5, found
