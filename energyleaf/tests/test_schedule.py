"""The default beat schedule is seeded once; what the admin changes survives beat restarts."""

from __future__ import annotations

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask, PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler

from energyleaf.celery import app
from energyleaf.schedule import DEFAULT_SCHEDULE, default_entry, schedule_seed

ALL_NAMES = [entry.name for entry in DEFAULT_SCHEDULE]


def _start_beat() -> DatabaseScheduler:
    """What `celery beat` does at start: the scheduler's constructor runs setup_schedule."""
    scheduler = DatabaseScheduler(app=app)
    scheduler.setup_schedule()  # once more, as a second beat start would
    return scheduler


@pytest.mark.django_db(transaction=True)
def test_migrate_seeds_every_default_entry_and_beat_does_not_overwrite_them() -> None:
    PeriodicTask.objects.all().delete()
    call_command("migrate", "audit", "0001", verbosity=0)
    call_command("migrate", "audit", verbosity=0)

    stored = {task.name: task for task in PeriodicTask.objects.select_related("crontab")}
    for entry in DEFAULT_SCHEDULE:
        task = stored[entry.name]
        assert task.task == entry.task
        assert task.enabled
        assert (task.crontab.minute, task.crontab.hour) == (entry.minute, entry.hour)
        assert str(task.crontab.timezone) == "UTC"
    app.loader.import_default_modules()  # the task modules, as a worker imports them
    assert app.tasks.keys() >= {entry.task for entry in DEFAULT_SCHEDULE}


# Beat closes "old" connections itself, which ends a test transaction: these run committed.
@pytest.mark.django_db(transaction=True)
def test_an_edited_entry_survives_a_beat_start() -> None:
    PeriodicTask.objects.all().delete()
    schedule_seed(apps=django_apps, names=ALL_NAMES)
    reports = PeriodicTask.objects.get(name="reports")
    # The admin moves the reports to minute 45 of every hour and disables the anomaly mails.
    reports.crontab = CrontabSchedule.objects.create(minute="45", hour="*", timezone="UTC")
    reports.save()
    PeriodicTask.objects.filter(name="anomaly-mails").update(enabled=False)

    scheduler = _start_beat()

    reports.refresh_from_db()
    assert reports.crontab is not None
    assert reports.crontab.minute == "45"
    assert not PeriodicTask.objects.get(name="anomaly-mails").enabled
    assert "reports" in scheduler.schedule
    assert "anomaly-mails" not in scheduler.schedule  # disabled entries do not run


@pytest.mark.django_db(transaction=True)
def test_a_deleted_entry_stays_deleted_and_seeding_again_adds_nothing() -> None:
    PeriodicTask.objects.all().delete()
    schedule_seed(apps=django_apps, names=ALL_NAMES)
    PeriodicTask.objects.filter(name="survey-routine").delete()
    count = PeriodicTask.objects.count()

    _start_beat()

    assert not PeriodicTask.objects.filter(name="survey-routine").exists()
    assert PeriodicTask.objects.count() == count
    # Seeding only fills in what is missing; here that is the deleted entry alone.
    assert schedule_seed(apps=django_apps, names=ALL_NAMES) == ["survey-routine"]
    assert schedule_seed(apps=django_apps, names=ALL_NAMES) == []


@pytest.mark.django_db
def test_seeding_marks_the_schedule_changed_for_a_running_beat() -> None:
    PeriodicTask.objects.filter(name="heartbeat").delete()
    PeriodicTasks.objects.all().delete()
    assert schedule_seed(apps=django_apps, names=["heartbeat", "no-such-entry"]) == ["heartbeat"]
    assert PeriodicTasks.last_change() is not None


def test_default_entry_names_are_unique_and_known() -> None:
    assert len(set(ALL_NAMES)) == len(ALL_NAMES)
    assert default_entry("heartbeat").task == "audit.heartbeat"
    with pytest.raises(KeyError):
        default_entry("no-such-entry")
