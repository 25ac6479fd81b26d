"""Writes of the sensors app: sensor administration, tokens and reading ingestion (`ingestion`:
readings as objects, the general rules; `batch`: a batch as columns, vectorised where it can be)."""

from .batch import BatchIngestResult, ReadingBatch, sensor_batch_ingest
from .ingestion import IngestResult, ItemOutcome, ReadingInput, sensor_readings_ingest
from .retention import readings_delete_before, rejected_readings_delete_before
from .sensors import (
    SETTINGS_FIELDS,
    SensorResetResult,
    sensor_assign,
    sensor_register,
    sensor_reset,
    sensor_settings_update,
    sensor_tokens_delete,
    sensor_tokens_revoke,
)
from .tokens import (
    TokenError,
    TokenIssue,
    sensor_script_accept,
    sensor_token_authenticate,
    sensor_token_issue,
)

__all__ = [
    "SETTINGS_FIELDS",
    "BatchIngestResult",
    "IngestResult",
    "ItemOutcome",
    "ReadingBatch",
    "ReadingInput",
    "SensorResetResult",
    "TokenError",
    "TokenIssue",
    "readings_delete_before",
    "rejected_readings_delete_before",
    "sensor_assign",
    "sensor_batch_ingest",
    "sensor_readings_ingest",
    "sensor_register",
    "sensor_reset",
    "sensor_script_accept",
    "sensor_settings_update",
    "sensor_token_authenticate",
    "sensor_token_issue",
    "sensor_tokens_delete",
    "sensor_tokens_revoke",
]
