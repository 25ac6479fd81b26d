"""Writes of the import: `importer` (the run, part by part), `readings` (the COPY of the
readings), `verify` (source against target), `source` (every read of the old database)."""

from .importer import PARTS, ImportResult, legacy_import
from .verify import legacy_verify

__all__ = ["PARTS", "ImportResult", "legacy_import", "legacy_verify"]
