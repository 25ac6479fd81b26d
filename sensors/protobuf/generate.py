"""Regenerate the checked-in protobuf modules of `sensors.protobuf`.

Usage (from the repository root, inside the dev virtualenv)::

    python -m sensors.protobuf.generate          # rewrite the generated files
    python -m sensors.protobuf.generate --check  # CI: fail if they are stale

The same machinery serves every package of the project that holds `.proto` files: a package
describes itself as a `ProtoPackage` and calls `main` with it (`analytics.api.protobuf.generate`
for the ML endpoint's messages). Contract:

* Inputs are the `.proto` files listed in the package's `protos` (in its directory). They are
  compiled with the protoc bundled in `grpcio-tools` (run in-process) using the repository root
  as the only import path, so the virtual file names are `<package path>/<name>.proto` and
  generated cross-file imports read `from sensors.protobuf import ..._pb2` without any
  post-processing.
* Outputs are `<stem>_pb2.py` (`--python_out`) and `<stem>_pb2.pyi` (`--mypy_out`, the
  `protoc-gen-mypy` plugin of mypy-protobuf) for every input, written next to the inputs.
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
from dataclasses import dataclass
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]  # dev requirement

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
GENERATED_SUFFIXES: tuple[str, ...] = ("_pb2.py", "_pb2.pyi")


@dataclass(frozen=True)
class ProtoPackage:
    """A directory of `.proto` files whose generated modules are checked in beside them."""

    directory: Path
    protos: tuple[str, ...]

    @property
    def path(self) -> Path:
        """The directory relative to the repository root (the protoc virtual path)."""
        return self.directory.relative_to(REPO_ROOT)

    @property
    def command(self) -> str:
        return f"python -m {'.'.join(self.path.parts)}.generate"


SENSORS = ProtoPackage(
    directory=Path(__file__).resolve().parent,
    protos=("energyleaf.proto", "energyleaf_batch.proto"),
)

EXIT_OK = 0
EXIT_STALE = 1
EXIT_PROTOC_FAILED = 2


class GenerationError(RuntimeError):
    """protoc, or the mypy plugin, could not be run or reported an error."""


def generated_names(package: ProtoPackage = SENSORS) -> list[str]:
    """Return the file names (relative to the package) that generation produces."""
    return [Path(proto).stem + suffix for proto in package.protos for suffix in GENERATED_SUFFIXES]


def _mypy_plugin() -> Path:
    """Locate `protoc-gen-mypy`: next to the running interpreter first, then on PATH."""
    beside_python = Path(sys.executable).parent / "protoc-gen-mypy"
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which("protoc-gen-mypy")
    if on_path is None:
        raise GenerationError("protoc-gen-mypy not found; install mypy-protobuf (dev requirements)")
    return Path(on_path)


def _run_protoc(package: ProtoPackage, out_root: Path) -> None:
    """Compile the package's protos into `out_root`/<package path>; raise GenerationError on
    failure."""
    args = [
        "grpc_tools.protoc",
        f"--proto_path={REPO_ROOT}",
        f"--plugin=protoc-gen-mypy={_mypy_plugin()}",
        f"--python_out={out_root}",
        "--mypy_opt=quiet",
        f"--mypy_out={out_root}",
        *(str(package.directory / name) for name in package.protos),
    ]
    status = protoc.main(args)
    if status != 0:
        raise GenerationError(f"protoc exited with status {status}")
    missing = [
        name for name in generated_names(package) if not (out_root / package.path / name).is_file()
    ]
    if missing:
        raise GenerationError(f"protoc did not produce: {', '.join(missing)}")


def stale_files(package: ProtoPackage = SENSORS) -> list[str]:
    """Regenerate into a temporary directory and list checked-in files that differ or are missing.

    Writes nothing inside the repository.
    """
    with tempfile.TemporaryDirectory(prefix="energyleaf-proto-") as tmp:
        out_root = Path(tmp)
        _run_protoc(package, out_root)
        stale = []
        for name in generated_names(package):
            fresh = (out_root / package.path / name).read_bytes()
            current = package.directory / name
            if not current.is_file() or current.read_bytes() != fresh:
                stale.append(name)
        return stale


def regenerate(package: ProtoPackage = SENSORS) -> list[str]:
    """Regenerate the checked-in files in place; return the names of the files that changed."""
    with tempfile.TemporaryDirectory(prefix="energyleaf-proto-") as tmp:
        out_root = Path(tmp)
        _run_protoc(package, out_root)
        changed = []
        for name in generated_names(package):
            fresh = (out_root / package.path / name).read_bytes()
            target = package.directory / name
            if not target.is_file() or target.read_bytes() != fresh:
                target.write_bytes(fresh)
                changed.append(name)
        return changed


def main(argv: Sequence[str] | None = None, package: ProtoPackage = SENSORS) -> int:
    """Command-line entry point for `package`; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog=package.command, description=f"Regenerate the protobuf modules in {package.path}/."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the checked-in generated files are stale",
    )
    options = parser.parse_args(argv)
    try:
        if options.check:
            stale = stale_files(package)
            if stale:
                sys.stderr.write(
                    f"Generated protobuf modules in {package.path}/ are out of date: "
                    f"{', '.join(stale)}.\nRun `{package.command}` and commit the result "
                    "(with the grpcio-tools and mypy-protobuf versions of requirements-dev.txt).\n"
                )
                return EXIT_STALE
            sys.stdout.write(f"Generated protobuf modules in {package.path}/ are up to date.\n")
            return EXIT_OK
        changed = regenerate(package)
    except GenerationError as exc:
        sys.stderr.write(f"Protobuf generation failed: {exc}\n")
        return EXIT_PROTOC_FAILED
    summary = ", ".join(changed) if changed else "nothing changed"
    sys.stdout.write(f"Regenerated {package.path}: {summary}.\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
