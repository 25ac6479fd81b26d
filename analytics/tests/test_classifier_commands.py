"""`train_peak_classifier` and `classify_readings` as a user runs them."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from analytics.compute.classifier.artefact import artefact_load, current_version
from simulation.households import HouseholdConfig, PlannedRun, simulate_household

BERLIN_WINTER = timezone(timedelta(hours=1))


def _day_line(day: int, seed: int) -> str:
    config = HouseholdConfig(
        activities=(),
        planned=(
            PlannedRun("KETTLE/ECO-H1/mode0", 7 * 3600, duration_s=240, exact=True),
            PlannedRun("WASHINGMACHINE/ECO-H1/mode2", 14 * 3600),
        ),
        fridge=True,
        freezer_probability=0.0,
        unlabelled=False,
    )
    household = simulate_household(datetime(2024, 1, 18, tzinfo=UTC), 1, seed, config)
    readings = [
        [
            datetime.fromtimestamp(int(ns) / 1e9, UTC).astimezone(BERLIN_WINTER).isoformat(),
            float(register),
        ]
        for ns, register in zip(household.timestamps_ns, household.register_kwh, strict=True)
    ]
    return json.dumps({"day": day, "readings": readings})


def test_classify_readings_writes_one_line_per_peak(trained_model: Path, tmp_path: Path) -> None:
    model = artefact_load(trained_model)
    source = tmp_path / "days.jsonl.gz"
    with gzip.open(source, "wt") as handle:
        handle.write(_day_line(17, 1) + "\n\n" + _day_line(18, 2) + "\n")
    output = tmp_path / "predictions.jsonl"
    err = StringIO()
    call_command("classify_readings", "--input", str(source), "--output", str(output), stderr=err)
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert {line["day"] for line in lines} == {17, 18}
    for line in lines:
        assert set(line) == {"day", "start", "end", "probs"}
        assert set(line["probs"]) == set(model.categories)
        start, end = datetime.fromisoformat(line["start"]), datetime.fromisoformat(line["end"])
        assert start.tzinfo is not None
        assert start < end
    # the kettle at 07:00 UTC and the washing machine at 14:00 UTC are found on both days
    for day in (17, 18):
        starts = [datetime.fromisoformat(x["start"]) for x in lines if x["day"] == day]
        assert any(
            abs(s - datetime(2024, 1, 18, 7, tzinfo=UTC)) < timedelta(minutes=2) for s in starts
        )
        assert any(
            timedelta(0) <= s - datetime(2024, 1, 18, 14, tzinfo=UTC) < timedelta(hours=1)
            for s in starts
        )
    assert f"2 days, {len(lines)} peaks" in err.getvalue()


def test_classify_readings_errors(trained_model: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    with pytest.raises(CommandError, match="no such file"):
        call_command("classify_readings", "--input", str(tmp_path / "x"), "--output", str(output))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_day_line(1, 1) + "\n" + '{"day": 2, "readings": [["noon", 1]]}\n')
    with pytest.raises(CommandError, match="line 2: readings\\[0\\]"):
        call_command("classify_readings", "--input", str(bad), "--output", str(output))


def test_classify_readings_needs_a_model(no_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "days.jsonl"
    source.write_text(_day_line(1, 1) + "\n")
    with pytest.raises(CommandError, match="train_peak_classifier"):
        call_command("classify_readings", "--input", str(source), "--output", str(tmp_path / "o"))


def test_train_command_writes_a_current_model(settings: Any, tmp_path: Path) -> None:
    from analytics.services.suggestions import classifier_cache_clear, classifier_model_get

    settings.ENERGYLEAF_ML_MODEL_DIR = tmp_path / "models"
    out = StringIO()
    call_command(
        "train_peak_classifier",
        "--households",
        "4",
        "--days",
        "1",
        "--min-positives",
        "2",
        "--no-progress",
        stdout=out,
    )
    version = current_version(tmp_path / "models")
    assert version is not None
    assert "macro-F1" in out.getvalue()
    assert f"Model {version} saved" in out.getvalue()
    classifier_cache_clear()
    model = classifier_model_get()
    assert model is not None
    assert model.version == version
    again = StringIO()
    call_command("train_peak_classifier", "--if-missing", stdout=again)
    assert f"A model exists: {version}" in again.getvalue()
    with pytest.raises(CommandError, match="households"):
        call_command("train_peak_classifier", "--households", "2")
    classifier_cache_clear()
