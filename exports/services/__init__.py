"""Writes of the exports app: `experiment` (marking survey participants exported, recording CSV
downloads; re-exported here), `dataset` (research dataset jobs) and `pseudonyms` (the keyed
household pseudonyms of every export)."""

from .experiment import experiment_csv_download_record, experiment_participants_mark_exported

__all__ = ["experiment_csv_download_record", "experiment_participants_mark_exported"]
