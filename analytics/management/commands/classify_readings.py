"""`manage.py classify_readings --input DAYS.jsonl[.gz] --output PREDICTIONS.jsonl`.

Described in docs/classifier.md, "Commands and artefact".

Each input line is one household-day of cumulative register readings in kWh:
`{"day": 17, "readings": [["2024-01-18T00:00:15+01:00", 12345.6789], ...]}`, treated as its own
sensor history. Each output line is one detected peak:
`{"day": 17, "start": ISO, "end": ISO, "probs": {category: probability, ...}}` with every
category the model knows (probabilities to 3 decimals). No web server and no database rows are
involved.
"""

from __future__ import annotations

import gzip
import json
from argparse import ArgumentParser
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError

from analytics.compute.classifier.history import HistoryError, history_from_line
from analytics.services.suggestions import classifier_model_get
from energyleaf.common.numbers import round_probability


def _open_input(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


class Command(BaseCommand):
    help = (
        "Run the production peak detector and the current classifier over meter data given as "
        "JSON lines (one household-day per line) and write one JSON line per detected peak."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--input", required=True, type=Path, help="DAYS.jsonl or .jsonl.gz")
        parser.add_argument("--output", required=True, type=Path, help="PREDICTIONS.jsonl")

    def handle(self, *args: Any, **options: Any) -> None:
        from analytics.compute.classifier.pipeline import history_classify

        model = classifier_model_get()
        if model is None:
            raise CommandError(
                "No usable peak classifier: run `python manage.py train_peak_classifier` first."
            )
        source: Path = options["input"]
        if not source.is_file():
            raise CommandError(f"--input: no such file: {source}")
        lines = peaks = 0
        with _open_input(source) as reader, options["output"].open("w") as writer:
            for number, line in enumerate(reader, start=1):
                if not line.strip():
                    continue
                try:
                    day, t_ns, kwh = history_from_line(line)
                except HistoryError as error:
                    raise CommandError(f"--input line {number}: {error}") from error
                for peak in history_classify(model, t_ns, kwh):
                    record = {
                        "day": day,
                        "start": peak.start.isoformat(),
                        "end": peak.end.isoformat(),
                        "probs": {
                            name: round_probability(value) for name, value in peak.probs.items()
                        },
                    }
                    writer.write(json.dumps(record) + "\n")
                    peaks += 1
                lines += 1
        self.stderr.write(f"{lines} days, {peaks} peaks, model {model.version}")
