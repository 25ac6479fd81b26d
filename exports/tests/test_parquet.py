"""The pure Parquet edition of a CSV dataset file: type spellings, header check, empty files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exports.compute.parquet import ParquetColumn, arrow_type, parquet_from_csv
from exports.selectors.dataset import HOUSEHOLD_COLUMNS, READING_COLUMNS, SEQUENCE_COLUMNS


def test_every_documented_type_is_spelled_as_pyarrow_spells_it() -> None:
    for column in (*READING_COLUMNS, *SEQUENCE_COLUMNS, *HOUSEHOLD_COLUMNS):
        assert str(arrow_type(column.type)) == column.type
    with pytest.raises(ValueError, match="unknown column type"):
        arrow_type("decimal(10, 2)")


def write_csv(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode()))
    return path


COLUMNS = (
    ParquetColumn("name", "string", "", "a text"),
    ParquetColumn("amount", "decimal128(38, 4)", "kWh", "a register"),
)


def test_a_header_that_is_not_the_columns_is_refused(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "x.csv.gz", "amount,name\n1,a\n")
    with pytest.raises(ValueError, match="CSV header"):
        parquet_from_csv(
            source=source, target=tmp_path / "x.parquet", columns=COLUMNS, row_group_rows=10
        )


def test_a_header_only_file_gives_an_empty_typed_table(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "x.csv.gz", "name,amount\n")
    target = tmp_path / "x.parquet"

    assert parquet_from_csv(source=source, target=target, columns=COLUMNS, row_group_rows=10) == 0

    table = pq.read_table(target)
    assert table.num_rows == 0
    assert table.schema.field("amount").type == pa.decimal128(38, 4)
    assert table.schema.field("amount").metadata == {b"unit": b"kWh", b"description": b"a register"}
