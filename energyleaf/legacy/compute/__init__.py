"""Pure code of the import: `mapping` (old values to new ones, periods from old sensor ids)."""
