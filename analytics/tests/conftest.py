"""A tiny peak classifier, trained once per test session into a temporary model folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analytics.tests.helpers import TINY_TRAINING


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from analytics.compute.classifier.pipeline import classifier_build

    folder = tmp_path_factory.mktemp("models")
    classifier_build(folder, TINY_TRAINING, compare=True)
    return folder


@pytest.fixture
def trained_model(settings: Any, tiny_model_dir: Path) -> Iterator[Path]:
    """Points ENERGYLEAF_ML_MODEL_DIR at the tiny model; the process cache is cleared around."""
    from analytics.services.suggestions import classifier_cache_clear

    settings.ENERGYLEAF_ML_MODEL_DIR = tiny_model_dir
    classifier_cache_clear()
    yield tiny_model_dir
    classifier_cache_clear()


@pytest.fixture
def no_model(settings: Any, tmp_path: Path) -> Iterator[Path]:
    from analytics.services.suggestions import classifier_cache_clear

    settings.ENERGYLEAF_ML_MODEL_DIR = tmp_path / "empty"
    classifier_cache_clear()
    yield tmp_path / "empty"
    classifier_cache_clear()
