"""Pure mapping of old-platform values to this project's: password hashes in Django's encoding,
sensor scripts and analog rotations, experiment statuses, and the assignment periods a sensor's
old `sensor_id`s stand for. No Django here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

ONE_MICROSECOND = timedelta(microseconds=1)

EXPERIMENT_STATUSES = frozenset(
    {
        "registered",
        "approved",
        "dismissed",
        "exported",
        "first_survey",
        "first_finished",
        "installation",
        "second_survey",
        "second_finished",
        "third_survey",
        "third_finished",
        "deinstallation",
        "inactive",
    }
)


class UnknownHashError(ValueError):
    """A password hash in neither of the old platform's formats."""


def django_password(old_hash: str) -> str:
    """The old platform's password hash in Django's encoding, so the same password logs in:
    Argon2id PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) become `argon2$argon2id$…`
    (Django's `Argon2PasswordHasher`), legacy bcrypt (`$2a$`, `$2b$`, `$2y$`) becomes
    `bcrypt$$2b$…` (Django's plain `BCryptPasswordHasher`, not `bcrypt_sha256`; `$2a$` and
    `$2y$` are the same algorithm as `$2b$`). Django re-hashes them with its default hasher at
    the first successful login. Raises UnknownHashError for anything else."""
    text = old_hash.strip()
    if text.startswith("$argon2id$"):
        return f"argon2{text}"
    if text[:4] in {"$2a$", "$2b$", "$2y$"} and len(text) == 60:
        return f"bcrypt$$2b${text[4:]}"
    raise UnknownHashError(f"unknown password hash format: {text[:10]!r}")


def sensor_script(script: str | None) -> tuple[str, int | None]:
    """(script, analog rotations per kWh) of an old `sensor.script`: digits alone are the
    revolutions per kWh of an analog meter, any other text is an SML script."""
    text = (script or "").strip()
    if text.isdigit() and int(text) > 0:
        return "", int(text)
    return script or "", None


def experiment_status(old: str | None) -> str:
    """The participation status of an old `experiment_status` (NULL: just registered)."""
    if old is None or old == "":
        return "registered"
    if old not in EXPERIMENT_STATUSES:
        raise ValueError(f"unknown experiment status {old!r}")
    return old


def money(value: float | None, places: int) -> Decimal | None:
    """A double as a Decimal with `places` decimals (None stays None)."""
    if value is None:
        return None
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class OldSensorId:
    """One old `sensor_id` of a MAC: whose it was and the span of its readings (None: none)."""

    sensor_id: str
    user_id: str | None
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True, slots=True)
class PlannedPeriod:
    user_id: str
    valid_from: datetime
    valid_to: datetime | None
    sensor_ids: tuple[str, ...]


def plan_periods(
    old_ids: list[OldSensorId],
    *,
    current_sensor_id: str,
    current_user_id: str | None,
    origin: datetime,
) -> tuple[list[PlannedPeriod], list[str]]:
    """The assignment periods of one sensor from its old `sensor_id`s, and the problems found.

    The old platform gave a sensor a new `sensor_id` on every reassignment, so each id is one
    household's time with the sensor. Bounds come from the readings (nothing else records
    them): ids in the order of their first reading; a period runs from its first reading (the
    very first from `origin`, as for a sensor assigned today) to the next id's first reading;
    the current id's period stays open while the sensor has a household, an earlier one ends
    after its last reading. Consecutive ids of one household make one period. An id without a
    known household leaves a gap (its readings are nobody's); an id without readings gets no
    period, except the current one, which opens after every reading.
    """
    problems: list[str] = []
    with_readings = sorted(
        (old for old in old_ids if old.first is not None and old.last is not None),
        key=lambda old: (old.first, old.sensor_id),
    )
    for earlier, later in itertools.pairwise(with_readings):
        if earlier.last is not None and later.first is not None and earlier.last >= later.first:
            problems.append(
                f"readings of old sensor ids {earlier.sensor_id} and {later.sensor_id} overlap "
                f"in time ({later.first.isoformat()} .. {earlier.last.isoformat()})"
            )
    periods: list[PlannedPeriod] = []
    for index, old in enumerate(with_readings):
        first, last = old.first or origin, old.last or origin  # both set (filtered above)
        start = origin if index == 0 else first
        if index + 1 < len(with_readings):
            end: datetime | None = with_readings[index + 1].first
        elif old.sensor_id == current_sensor_id and current_user_id is not None:
            end = None
        else:
            end = last + ONE_MICROSECOND
        if old.user_id is None:
            continue
        if end is not None and end <= start:
            continue  # overlapping ids: reported above
        if periods and periods[-1].user_id == old.user_id and periods[-1].valid_to == start:
            merged = periods.pop()
            periods.append(
                PlannedPeriod(
                    old.user_id, merged.valid_from, end, (*merged.sensor_ids, old.sensor_id)
                )
            )
            continue
        periods.append(PlannedPeriod(old.user_id, start, end, (old.sensor_id,)))
    current_has_readings = any(old.sensor_id == current_sensor_id for old in with_readings)
    if current_user_id is not None and not current_has_readings:
        latest = max((old.last for old in with_readings if old.last is not None), default=None)
        start = origin if latest is None else latest + ONE_MICROSECOND
        if periods and periods[-1].valid_to is None:
            problems.append("two open periods")
        else:
            periods.append(PlannedPeriod(current_user_id, start, None, (current_sensor_id,)))
    return periods, problems
