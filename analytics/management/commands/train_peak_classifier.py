"""`manage.py train_peak_classifier`: simulate, validate by held-out programme, fit, save."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from dataclasses import replace
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm  # type: ignore[import-untyped]

from analytics.compute.classifier.pipeline import validation_table
from analytics.compute.classifier.training import TrainingConfig
from analytics.services.suggestions import classifier_train, classifier_usable_version


class Command(BaseCommand):
    help = (
        "Train the peak classifier on simulated households built from the allowlisted antgen "
        "models (docs/classifier.md), print its validation on unseen devices and save it "
        "with its sidecar under ENERGYLEAF_ML_MODEL_DIR as the current model. Deterministic."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        defaults = TrainingConfig()
        parser.add_argument("--households", type=int, default=defaults.households)
        parser.add_argument("--days", type=int, default=defaults.days)
        parser.add_argument(
            "--single-days",
            type=int,
            default=defaults.single_days,
            help="household-days simulated on their own (as classify_readings sees them)",
        )
        parser.add_argument(
            "--evaluation-days",
            type=int,
            default=defaults.evaluation_days,
            help="fresh household-days per fold of the unseen-device validation",
        )
        parser.add_argument(
            "--compare",
            action="store_true",
            help="also validate on held-out programmes and households (slower; for the docs)",
        )
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument(
            "--min-positives",
            type=int,
            default=defaults.min_positives,
            help="peaks a category needs to be classified (lower it only for quick trials)",
        )
        parser.add_argument("--if-missing", action="store_true", help="only when no model exists")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_missing"]:
            usable = classifier_usable_version()
            if usable is not None:
                self.stdout.write(f"A model exists: {usable}")
                return
        if options["households"] < 3 or options["days"] < 1:
            raise CommandError("--households must be at least 3 and --days at least 1.")
        if options["single_days"] < 0 or options["evaluation_days"] < 1:
            raise CommandError("--single-days must be >= 0 and --evaluation-days >= 1.")
        config = replace(
            TrainingConfig(),
            households=options["households"],
            days=options["days"],
            single_days=options["single_days"],
            evaluation_days=options["evaluation_days"],
            seed=options["seed"],
            min_positives=options["min_positives"],
        )
        with tqdm(
            total=config.households
            + config.single_days
            + config.folds * (config.evaluation_days + 2 * config.calibration_days),
            unit="household",
            disable=options["no_progress"] or options["verbosity"] < 1,
            file=self.stderr,
        ) as bar:
            try:
                result = classifier_train(
                    config=config, compare=options["compare"], progress=bar.update
                )
            except ValueError as error:
                raise CommandError(str(error)) from error
        if options["json"]:
            self.stdout.write(json.dumps(result.report, indent=2, sort_keys=True))
        else:
            self.stdout.write(validation_table(result.report))
        seconds = result.report["seconds"]
        self.stdout.write(
            f"Model {result.version} saved in {result.folder} "
            f"({seconds['total']:.1f} s: simulation and detection "
            f"{seconds['simulation_and_detection']:.1f} s, validation and fit "
            f"{seconds['validation_and_fit']:.1f} s; {result.report['peaks']} peaks; "
            f"{result.report['latency_ms_per_peak']:.2f} ms per peak)."
        )
