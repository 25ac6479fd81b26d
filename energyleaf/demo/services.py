"""The demo of the run command: a demo admin and household with a sensor, and a history that shows
the product in the first minute.

`demo_seed` creates, when missing: the demo accounts and sensor; the peak classifier (trained
first, so the history's peaks get suggestions); two days of simulated readings ending now, stored
through the real ingestion service; the peaks of every half hour (the real detection service,
which asks the real suggestion service for device categories); fresh rollups; a report with its
mail; and a research export. Every step looks at what exists and adds only what is missing, so a
second run adds nothing. Background tasks that the services enqueue run inline while seeding
(Celery's eager mode), so nothing is left for the worker to redo.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test.utils import override_settings

from analytics.models import DeviceSuggestion, Sequence
from analytics.services.detection import WINDOW, detection_windows_between, sequences_detect_window
from analytics.services.rollups import rollups_refresh
from analytics.services.suggestions import classifier_train, classifier_usable_version
from energyleaf.celery import app as celery_app
from energyleaf.users import selectors as user_selectors
from energyleaf.users import services as user_services
from energyleaf.users.models import Household, User
from exports.models import ExportJob
from exports.services.dataset import export_job_create
from reports.models import Report
from reports.services.reports import report_generate, report_settings_update
from sensors import services as sensor_services
from sensors.models import Sensor
from sensors.selectors.readings import sensor_reading_span
from simulation.config import DEFAULT_CLIENT_ID_PREFIX, client_id_for
from simulation.households import simulate_household, to_ns
from simulation.protocol import SIMULATOR_SCRIPT

DEMO_ADMIN = "admin@energyleaf.local"
DEMO_HOUSEHOLD = "household@energyleaf.local"
DEMO_HOUSEHOLD_DATA: dict[str, object] = {
    "base_price_per_month": Decimal("12.50"),
    "working_price_per_kwh": Decimal("0.3520"),
    "household_size": 3,
    "property_type": "apartment",
    "living_space_m2": 85,
    "hot_water": "not_electric",
    "daily_consumption_goal_kwh": Decimal("7.000"),
}
DEMO_SENSOR = client_id_for(DEFAULT_CLIENT_ID_PREFIX, 1)
"""The MAC of simulated sensor 1, so `simulate_sensors --register` continues this history."""
DEMO_SCRIPT = (
    ">D\n>B\n=>sensor53 r\n>M 1\n+1,3,s,0,9600,SML\n"
    "1,77070100010800ff@1000,Total,kWh,total_in,4\n#\n"
)
DEMO_HISTORY_HOURS = 48
DEMO_SIMULATION_SEED = 2024

Progress = Callable[[str], None]


@dataclass
class DemoSeedResult:
    """What one run added: new logins (email -> generated password) and counts."""

    passwords: dict[str, str] = field(default_factory=dict)
    sensor_created: bool = False
    model_trained: str | None = None
    readings: int = 0
    windows: int = 0
    peaks: int = 0
    suggested_peaks: int = 0
    report_id: int | None = None
    mail: str | None = None
    export_job_id: int | None = None


def _silent(_line: str) -> None:
    return None


@contextmanager
def _tasks_inline() -> Iterator[None]:
    """Run the tasks that services enqueue at once, in this process (as the tests do)."""
    previous = celery_app.conf.task_always_eager
    trace_logger = logging.getLogger("celery.app.trace")
    previous_level = trace_logger.level
    celery_app.conf.task_always_eager = True
    trace_logger.setLevel(logging.WARNING)  # no "Task ... succeeded" line per inline task
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = previous
        trace_logger.setLevel(previous_level)


def demo_accounts_ensure(*, result: DemoSeedResult) -> tuple[User, User, Sensor]:
    """The demo admin, the demo household (a participant) and its sensor; created when missing,
    with a new random password each (in `result.passwords`)."""
    with transaction.atomic():
        for email, staff in ((DEMO_ADMIN, True), (DEMO_HOUSEHOLD, False)):
            if user_selectors.users_by_email(email=email).exists():
                continue
            password = secrets.token_urlsafe(12)
            user_services.user_create(
                email=email,
                password=password,
                username="Demo admin" if staff else "Demo household",
                is_staff=staff,
                is_participant=not staff,
            )
            if staff:
                user_services.users_promote_to_admin(
                    users=user_selectors.users_by_email(email=email)
                )
            else:
                # A typical German household, so reports show costs and a daily goal, in the
                # study arm that is shown device suggestions.
                demo_household = user_selectors.users_by_email(email=email).get()
                user_services.household_update(user=demo_household, data=DEMO_HOUSEHOLD_DATA)
                user_services.household_arm_set(
                    user=demo_household, app_version=Household.AppVersion.SUPPORT
                )
            result.passwords[email] = password
        admin = user_selectors.users_by_email(email=DEMO_ADMIN).get()
        household = user_selectors.users_by_email(email=DEMO_HOUSEHOLD).get()
        sensor = Sensor.objects.filter(client_id=DEMO_SENSOR).first()
        if sensor is None:
            sensor = sensor_services.sensor_register(
                client_id=DEMO_SENSOR, user=household, script=DEMO_SCRIPT
            )
            result.sensor_created = True
    return admin, household, sensor


def demo_classifier_ensure(*, result: DemoSeedResult, progress: Progress) -> None:
    """Train the peak classifier when there is no model yet (about a minute on a quiet 2-core
    machine; docs/classifier.md, "Commands and artefact")."""
    if classifier_usable_version() is not None:
        return
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    from analytics.compute.classifier.training import TrainingConfig

    config = TrainingConfig()
    simulated = config.households + config.single_days
    total = simulated + config.folds * (config.evaluation_days + 2 * config.calibration_days)
    done = 0
    progress(f"training the peak classifier on {simulated} simulated households (once)")

    def step(count: int) -> None:
        nonlocal done
        done += count
        if done % 100 == 0 or done in (simulated, total):
            progress(f"classifier: {done}/{total} simulated households and days")
        if done == simulated:
            progress("classifier: validating on unseen devices, calibrating and fitting")

    # One thread: on a busy machine the fit's OpenMP threads slow each other down many times
    # over (measured on 2 shared cores: 14 min instead of 1.5 min).
    with threadpool_limits(limits=1):
        built = classifier_train(progress=step)
    result.model_trained = built.version
    progress(f"classifier: model {built.version} saved")


def demo_history_ensure(
    *, sensor: Sensor, now: datetime, hours: int, result: DemoSeedResult, progress: Progress
) -> None:
    """When the sensor has no readings: `hours` of a simulated household ending at `now`, posted
    day by day through the ingestion service with the sensor's own token."""
    if sensor_reading_span(sensor_id=sensor.pk) is not None:
        return
    end = now.astimezone(UTC)
    begin = end - timedelta(hours=hours)
    midnight = begin.replace(hour=0, minute=0, second=0, microsecond=0)
    days = (end - midnight).days + 1
    progress(f"simulating {hours} h of a household")
    simulated = simulate_household(midnight, days, DEMO_SIMULATION_SEED)
    begin_ns, end_ns = to_ns(begin), to_ns(end)
    inside = (simulated.timestamps_ns > begin_ns) & (simulated.timestamps_ns <= end_ns)
    stamps = simulated.timestamps_ns[inside]
    registers = simulated.register_kwh[inside]
    if stamps.size == 0:
        return
    token = sensor_services.sensor_token_issue(
        client_id=sensor.client_id, need_script=False, now=now
    ).access_token
    chunks = max(1, -(-hours // 24))
    bounds = np.linspace(0, stamps.size, chunks + 1).astype(int)
    for index in range(chunks):
        part = slice(bounds[index], bounds[index + 1])
        readings = [
            sensor_services.ReadingInput(
                value=float(value), timestamp=int(stamp), wire_format="demo"
            )
            for stamp, value in zip(stamps[part].tolist(), registers[part].tolist(), strict=True)
        ]
        stored = sensor_services.sensor_readings_ingest(token=token, readings=readings, now=now)
        result.readings += stored.accepted
        progress(
            f"readings {index + 1}/{chunks} {'day' if chunks == 1 else 'days'}: "
            f"{stored.accepted} stored"
        )


def demo_peaks_ensure(*, sensor: Sensor, result: DemoSeedResult, progress: Progress) -> None:
    """When the sensor has no peaks yet: detection over every half hour of its readings (the
    detection asks for device suggestions of new peaks), then suggestions for peaks without."""
    span = sensor_reading_span(sensor_id=sensor.pk)
    if span is None:
        return
    first, last = span
    if not Sequence.objects.filter(sensor=sensor).exists():
        windows = [
            start
            for start in detection_windows_between(start=first, end=last)
            if start + WINDOW <= last
        ]
        progress(f"detection: {len(windows)} half-hour windows")
        for number, start in enumerate(windows, 1):
            sequences_detect_window(
                sensor_id=sensor.pk, window_start=start, window_end=start + WINDOW
            )
            result.windows += 1
            if number % 24 == 0 or number == len(windows):
                progress(f"detection: {number}/{len(windows)} windows")
    peaks = Sequence.objects.filter(sensor=sensor, kind=Sequence.Kind.PEAK)
    result.peaks = peaks.count()
    result.suggested_peaks = (
        DeviceSuggestion.objects.filter(sequence__in=peaks).values("sequence").distinct().count()
    )
    progress(f"peaks: {result.peaks}, with device suggestions: {result.suggested_peaks}")


def demo_report_ensure(
    *, household: User, now: datetime, result: DemoSeedResult, progress: Progress
) -> None:
    """When the household has no report yet: a daily report for yesterday, mailed at once. The
    console mail backend would print the whole mail (inline chart included); while seeding the
    mail is written to a file under var/mail instead."""
    if Report.objects.filter(user=household).exists():
        return
    report_settings_update(user_id=household.pk, interval_days=1)
    backend = settings.EMAIL_BACKEND
    if backend == "django.core.mail.backends.console.EmailBackend":
        backend = "django.core.mail.backends.filebased.EmailBackend"
        Path(settings.EMAIL_FILE_PATH).mkdir(parents=True, exist_ok=True)
    with override_settings(EMAIL_BACKEND=backend):
        report = report_generate(user_id=household.pk, now=now)
    report.refresh_from_db()
    result.report_id = report.pk
    result.mail = report.mail_status
    where = f" (saved in {settings.EMAIL_FILE_PATH})" if "filebased" in backend else ""
    progress(
        f"report {report.first_day}..{report.last_day}: {report.total_consumption_kwh} kWh, "
        f"mail {report.mail_status}{where}"
    )


def demo_export_ensure(
    *, admin: User, household: User, result: DemoSeedResult, progress: Progress
) -> None:
    """When no research export exists yet: one of the demo household, run at once."""
    if ExportJob.objects.exists():
        return
    job = export_job_create(
        requested_by=admin, households=list(Household.objects.filter(user=household))
    )
    job.refresh_from_db()
    result.export_job_id = job.pk
    progress(f"research export {job.pk}: {job.status}, {job.rows_written} rows")


def demo_seed(
    *,
    now: datetime,
    hours: int = DEMO_HISTORY_HOURS,
    train: bool = True,
    progress: Progress = _silent,
) -> DemoSeedResult:
    """Seed what is missing of the demo (see the module docstring); returns what was added.

    `hours` of history end at `now`; `train` False skips training a missing classifier (the
    peaks then get no suggestions).
    """
    result = DemoSeedResult()
    admin, household, sensor = demo_accounts_ensure(result=result)
    if train:
        demo_classifier_ensure(result=result, progress=progress)
    with _tasks_inline():
        demo_history_ensure(sensor=sensor, now=now, hours=hours, result=result, progress=progress)
        demo_peaks_ensure(sensor=sensor, result=result, progress=progress)
        buckets = rollups_refresh(now=now).buckets
        progress(f"rollups: {buckets} quarter hours refreshed")
        demo_report_ensure(household=household, now=now, result=result, progress=progress)
        demo_export_ensure(admin=admin, household=household, result=result, progress=progress)
    return result


# --- simulated sensors (`manage.py simulate_sensors --register`) ---------------------------------


@dataclass(slots=True)
class RegistrationResult:
    """What `register_simulated_sensors` did, by client_id."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    users_created: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def simulated_user_email(index: int) -> str:
    """The household user of simulated sensor `index`."""
    return f"sim-{index}@energyleaf.local"


def register_simulated_sensors(
    *, sensors: Iterable[tuple[int, str]], script: str = SIMULATOR_SCRIPT
) -> RegistrationResult:
    """Register each (index, client_id) for household user `sim-<index>@energyleaf.local`.

    Existing sensors (any letter case) are skipped untouched; missing users are created without a
    password. Each sensor is registered in its own transaction, so
    one failure (e.g. the user has an electricity sensor with another MAC already) is reported in
    `failed` and does not undo the others. New sensors get `script` and must receive it.
    """
    result = RegistrationResult()
    for index, client_id in sensors:
        if Sensor.objects.filter(client_id__iexact=client_id).exists():
            result.existing.append(client_id)
            continue
        email = simulated_user_email(index)
        try:
            with transaction.atomic():
                user = user_selectors.users_by_email(email=email).first()
                if user is None:
                    user = user_services.user_create(email=email)
                    created_user = True
                else:
                    created_user = False
                sensor_services.sensor_register(client_id=client_id, user=user, script=script)
        except ValidationError as exc:
            result.failed[client_id] = "; ".join(exc.messages)
            continue
        if created_user:
            result.users_created.append(email)
        result.created.append(client_id)
    return result
