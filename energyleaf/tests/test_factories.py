"""Every model of the project's apps has a factory in its app's `tests/factories.py`, and every
factory there makes a valid row: a new model without a factory fails here."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.apps import AppConfig, apps
from django.conf import settings
from django.db import models
from factory.django import DjangoModelFactory
from simple_history.models import HistoricalChanges


def _project_apps() -> list[AppConfig]:
    """The installed apps that live in this repository (not in a virtualenv)."""
    root = Path(settings.BASE_DIR).resolve()
    found = []
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if path.is_relative_to(root) and not any(part.startswith(".") for part in path.parts):
            found.append(config)
    return found


def _models(config: AppConfig) -> list[type[models.Model]]:
    """The app's own concrete models; django-simple-history's generated history models follow
    their model and need no factory of their own."""
    return [
        model
        for model in config.get_models()
        if not model._meta.abstract
        and not model._meta.proxy
        and not issubclass(model, HistoricalChanges)
    ]


def _factories_module(config: AppConfig) -> ModuleType | None:
    try:
        return importlib.import_module(f"{config.name}.tests.factories")
    except ModuleNotFoundError as exc:
        if exc.name in (f"{config.name}.tests", f"{config.name}.tests.factories"):
            return None  # an app without models needs none
        raise


def _factories(config: AppConfig) -> list[type[DjangoModelFactory[Any]]]:
    """The factories defined in (not only imported into) the app's factories module."""
    module = _factories_module(config)
    if module is None:
        return []
    return [
        value
        for _, value in inspect.getmembers(module, inspect.isclass)
        if issubclass(value, DjangoModelFactory)
        and value.__module__ == module.__name__
        and value._meta.model is not None
    ]


PROJECT_APPS = _project_apps()
ALL_FACTORIES = [factory for config in PROJECT_APPS for factory in _factories(config)]


def test_the_project_apps_are_found() -> None:
    names = {config.name for config in PROJECT_APPS}
    assert {
        "energyleaf.users",
        "energyleaf.audit",
        "sensors",
        "analytics",
        "exports",
        "reports",
    } <= (names)


def test_every_model_has_a_factory_in_its_app() -> None:
    missing = []
    for config in PROJECT_APPS:
        covered = {factory._meta.model for factory in _factories(config)}
        missing += [model._meta.label for model in _models(config) if model not in covered]
    assert not missing, f"models without a factory in their app's tests/factories.py: {missing}"


@pytest.mark.django_db
@pytest.mark.parametrize("factory_class", ALL_FACTORIES, ids=lambda f: f.__name__)
def test_factory_saves_a_valid_row(factory_class: type[DjangoModelFactory[Any]]) -> None:
    first, second = factory_class(), factory_class()  # twice: sequences keep rows unique

    for row in (first, second):
        row.full_clean()
        assert type(row)._default_manager.filter(pk=row.pk).exists()
    assert first.pk != second.pk
