"""The Parquet edition of a dataset file, made from its gzip CSV file (no Django here).

The CSV file is read back in blocks by pyarrow's streaming CSV reader with every column's type
given (nothing is guessed) and written as Parquet row groups of at most `row_group_rows` rows, so
memory stays flat whatever the size, and both editions hold the same rows and values by
construction (one read of the database). Per column: an empty CSV cell of a number, timestamp or
boolean column is null; a text cell is the same text ("" when the CSV cell is empty). Each
Parquet field carries the column's unit and description as field metadata. Column types are
written as pyarrow spells them (`string`, `int16`, `int64`, `double`, `bool`,
`timestamp[ms, tz=UTC]`, `decimal128(38, 4)`), the spelling the manifest shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

COMPRESSION = "zstd"
CSV_BLOCK_BYTES = 1 << 20  # the streaming reader's block: about 10,000 reading rows
_SIMPLE_TYPES = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "timestamp[ms, tz=UTC]": pa.timestamp("ms", tz="UTC"),
}
_DECIMAL = re.compile(r"decimal128\((\d+), (\d+)\)")


@dataclass(frozen=True)
class ParquetColumn:
    """A column of the file: its header name, type spelling, unit and description."""

    name: str
    type: str
    unit: str
    description: str


def arrow_type(spelling: str) -> pa.DataType:
    """The pyarrow type of a spelling such as `decimal128(38, 4)` (ValueError when unknown)."""
    if spelling in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[spelling]
    match = _DECIMAL.fullmatch(spelling)
    if match is None:
        raise ValueError(f"unknown column type {spelling!r}")
    return pa.decimal128(int(match[1]), int(match[2]))


def parquet_schema(columns: Sequence[ParquetColumn]) -> pa.Schema:
    return pa.schema(
        [
            pa.field(
                column.name,
                arrow_type(column.type),
                metadata={"unit": column.unit, "description": column.description},
            )
            for column in columns
        ]
    )


def parquet_from_csv(
    *,
    source: Path,
    target: Path,
    columns: Sequence[ParquetColumn],
    row_group_rows: int,
    on_row_group: Callable[[int], None] | None = None,
) -> int:
    """Write `target` (Parquet) from the gzip CSV file `source`, whose header must be exactly the
    columns' names; row groups of at most `row_group_rows` rows. Returns the number of rows."""
    schema = parquet_schema(columns)
    reader = pa_csv.open_csv(
        pa.input_stream(str(source), compression="gzip"),
        read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={field.name: field.type for field in schema},
            strings_can_be_null=False,
            true_values=["true"],
            false_values=["false"],
        ),
    )
    if reader.schema.names != schema.names:
        raise ValueError(f"CSV header {reader.schema.names} is not {schema.names}")
    rows = 0
    # Dictionary encoding for text only: on decimals and times it costs memory and size.
    text = [field.name for field in schema if field.type == pa.string()]
    with pq.ParquetWriter(
        str(target), schema, compression=COMPRESSION, use_dictionary=text
    ) as writer:
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= row_group_rows:
                table = pa.Table.from_batches(pending)
                _write_group(writer, schema, table.slice(0, row_group_rows))
                rest = table.slice(row_group_rows)
                pending = rest.to_batches()
                pending_rows = rest.num_rows
                rows += row_group_rows
                if on_row_group is not None:
                    on_row_group(row_group_rows)
        if pending_rows:
            _write_group(writer, schema, pa.Table.from_batches(pending))
            rows += pending_rows
            if on_row_group is not None:
                on_row_group(pending_rows)
    return rows


def _write_group(writer: pq.ParquetWriter, schema: pa.Schema, table: pa.Table) -> None:
    """One row group (the table's columns under the schema that carries the metadata)."""
    typed = pa.Table.from_arrays(table.columns, schema=schema)
    writer.write_table(typed, row_group_size=max(typed.num_rows, 1))
