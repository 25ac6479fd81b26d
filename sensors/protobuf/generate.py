"""Regenerate the checked-in protobuf modules of `sensors.protobuf`.

Usage (from the repository root, inside the dev virtualenv)::

    python -m sensors.protobuf.generate          # rewrite the generated files
    python -m sensors.protobuf.generate --check  # CI: fail if they are stale

Contract:

* Inputs are the `.proto` files listed in `PROTO_FILES` (next to this module). They are compiled
  with the protoc bundled in `grpcio-tools` (run in-process) using the repository root as the
  only import path, so the virtual file names are `sensors/protobuf/<name>.proto` and generated
  cross-file imports read `from sensors.protobuf import ..._pb2` without any post-processing.
* Outputs are `<stem>_pb2.py` (`--python_out`) and `<stem>_pb2.pyi` (`--mypy_out`, the
  `protoc-gen-mypy` plugin of mypy-protobuf) for every input, written next to this module.
* Generation always happens in a temporary directory first; the checked-in files are only
  replaced when protoc succeeded for every input.
* `--check` writes nothing. It exits 0 when regeneration would be a no-op, 1 when a generated file
  differs or is missing, and 2 when protoc or the plugin fails.

The output depends on the exact versions of `grpcio-tools` and `mypy-protobuf`; both are pinned in
`requirements-dev.txt`. Generated `_pb2.py` files check at import time that the protobuf runtime
is not older than the protoc that produced them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]  # dev requirement

PROTO_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROTO_DIR.parent.parent
PACKAGE_PATH = PROTO_DIR.relative_to(REPO_ROOT)

PROTO_FILES: tuple[str, ...] = ("energyleaf.proto", "energyleaf_ml.proto", "energyleaf_batch.proto")
GENERATED_SUFFIXES: tuple[str, ...] = ("_pb2.py", "_pb2.pyi")
COMMAND = "python -m sensors.protobuf.generate"

EXIT_OK = 0
EXIT_STALE = 1
EXIT_PROTOC_FAILED = 2


class GenerationError(RuntimeError):
    """protoc, or the mypy plugin, could not be run or reported an error."""


def generated_names() -> list[str]:
    """Return the file names (relative to this package) that generation produces."""
    return [Path(proto).stem + suffix for proto in PROTO_FILES for suffix in GENERATED_SUFFIXES]


def _mypy_plugin() -> Path:
    """Locate `protoc-gen-mypy`: next to the running interpreter first, then on PATH."""
    beside_python = Path(sys.executable).parent / "protoc-gen-mypy"
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which("protoc-gen-mypy")
    if on_path is None:
        raise GenerationError("protoc-gen-mypy not found; install mypy-protobuf (dev requirements)")
    return Path(on_path)


def _run_protoc(out_root: Path) -> None:
    """Compile every proto into `out_root`/sensors/protobuf; raise GenerationError on failure."""
    args = [
        "grpc_tools.protoc",
        f"--proto_path={REPO_ROOT}",
        f"--plugin=protoc-gen-mypy={_mypy_plugin()}",
        f"--python_out={out_root}",
        "--mypy_opt=quiet",
        f"--mypy_out={out_root}",
        *(str(PROTO_DIR / name) for name in PROTO_FILES),
    ]
    status = protoc.main(args)
    if status != 0:
        raise GenerationError(f"protoc exited with status {status}")
    missing = [name for name in generated_names() if not (out_root / PACKAGE_PATH / name).is_file()]
    if missing:
        raise GenerationError(f"protoc did not produce: {', '.join(missing)}")


def stale_files() -> list[str]:
    """Regenerate into a temporary directory and list checked-in files that differ or are missing.

    Writes nothing inside the repository.
    """
    with tempfile.TemporaryDirectory(prefix="energyleaf-proto-") as tmp:
        out_root = Path(tmp)
        _run_protoc(out_root)
        stale = []
        for name in generated_names():
            fresh = (out_root / PACKAGE_PATH / name).read_bytes()
            current = PROTO_DIR / name
            if not current.is_file() or current.read_bytes() != fresh:
                stale.append(name)
        return stale


def regenerate() -> list[str]:
    """Regenerate the checked-in files in place; return the names of the files that changed."""
    with tempfile.TemporaryDirectory(prefix="energyleaf-proto-") as tmp:
        out_root = Path(tmp)
        _run_protoc(out_root)
        changed = []
        for name in generated_names():
            fresh = (out_root / PACKAGE_PATH / name).read_bytes()
            target = PROTO_DIR / name
            if not target.is_file() or target.read_bytes() != fresh:
                target.write_bytes(fresh)
                changed.append(name)
        return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the checked-in generated files are stale",
    )
    options = parser.parse_args(argv)
    try:
        if options.check:
            stale = stale_files()
            if stale:
                sys.stderr.write(
                    "Generated protobuf modules in sensors/protobuf/ are out of date: "
                    f"{', '.join(stale)}.\nRun `{COMMAND}` and commit the result "
                    "(with the grpcio-tools and mypy-protobuf versions of requirements-dev.txt).\n"
                )
                return EXIT_STALE
            sys.stdout.write("Generated protobuf modules are up to date.\n")
            return EXIT_OK
        changed = regenerate()
    except GenerationError as exc:
        sys.stderr.write(f"Protobuf generation failed: {exc}\n")
        return EXIT_PROTOC_FAILED
    summary = ", ".join(changed) if changed else "nothing changed"
    sys.stdout.write(f"Regenerated sensors/protobuf: {summary}.\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
