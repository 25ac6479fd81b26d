"""Reads of the import's own tables: `mapping` (which old row became which new one)."""
