"""Pure ingestion rules: which incoming readings to store, with what consumption, and why not.

No Django here. The ingestion service loads the sensor's stored readings around the incoming ones,
calls `plan_ingestion`, and writes the plan in one transaction. Units: registers in kWh (m³ for
gas and water), power in W, all datetimes aware UTC; numbers are Decimals with 6 decimals, the
storage precision of the reference (numeric(30, 6)).

Rules (docs/design.md, differences 1-4; docs/protocol.md, "How readings are judged"):
- A register reading is compared with the stored reading just before it *by the readings' own
  timestamps*: it may not go down, and may not rise faster than `max_rate_per_minute`; it may not
  exceed the stored reading just after it either (a late reading fits between its neighbours),
  and that later reading's consumption is recomputed.
- A reading at the time of a stored one is a duplicate: answered as success, stored once.
- A refused reading is kept with its reason. When the last `replacement_readings` refused readings
  after the last stored one were all lower (or all implausibly higher) than it, and rise
  consistently among themselves, the meter was replaced: they are stored after all, the first
  with consumption 0 and the `METER_REPLACED` flag, and a meter event is recorded. A single
  glitch therefore neither invents consumption nor blocks the readings after it.
- Increment sensors (analog meters, "sum" mode) send consumption since their previous message;
  the register is the running sum. They only append: an increment older than the newest stored
  reading is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import pairwise

import numpy as np

QUANTUM = Decimal("0.000001")
# numeric(30, 6) holds values below 10**24.
MAX_STORABLE = Decimal(10) ** 24


class Flag:
    """Mirror of `sensors.models.ReadingFlag` (kept here so this module stays Django-free)."""

    VALUE_CURRENT_REPLACED = 1
    VALUE_OUT_REPLACED = 2
    METER_REPLACED = 4
    SERVER_TIME = 8
    BACKFILLED = 16


class Reason:
    """Refusal reasons (values of `RejectedReading.Reason`) with the status text the client gets."""

    VALUE_NOT_POSITIVE = "value_not_positive"
    VALUE_NOT_FINITE = "value_not_finite"
    VALUE_TOO_HIGH = "value_too_high"
    VALUE_DECREASED = "value_decreased"
    VALUE_ABOVE_LATER = "value_above_later"
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
    OUT_OF_ORDER = "out_of_order"
    DUPLICATE_CONFLICT = "duplicate_conflict"

    MESSAGES: dict[str, str] = {
        VALUE_NOT_POSITIVE: "Value is equal to or less than zero",
        VALUE_NOT_FINITE: "Invalid data",
        VALUE_TOO_HIGH: "Value too high",
        VALUE_DECREASED: "Value lower than previous reading",
        VALUE_ABOVE_LATER: "Value too high",
        TIMESTAMP_OUT_OF_RANGE: "Timestamp out of range",
        OUT_OF_ORDER: "Reading older than the latest reading",
        DUPLICATE_CONFLICT: "Duplicate",
    }


# Reasons that can be the start of a meter replacement (the register restarted elsewhere).
REPLACEMENT_REASONS = frozenset({Reason.VALUE_DECREASED, Reason.VALUE_TOO_HIGH})

DUPLICATE_MESSAGE = "Duplicate"
REPLACEMENT_MESSAGE = "Meter replacement detected"


@dataclass(frozen=True, slots=True)
class PlausibilityConfig:
    """Limits for one sensor type. Rates are register units per minute of reading time."""

    max_rate_per_minute: Decimal = Decimal("0.6")
    max_out_rate_per_minute: Decimal = Decimal("2")
    min_power_w: Decimal = Decimal(-20000)
    max_power_w: Decimal = Decimal(40000)
    replacement_readings: int = 3


# StoredReading and IncomingReading are built ten thousand times per batch: they are not frozen
# (a frozen dataclass's __init__ costs five times as much) but are never changed after creation;
# use `dataclasses.replace`. They stay hashable.
@dataclass(slots=True, unsafe_hash=True)
class StoredReading:
    """A reading already in the database (`pk` set) or planned for insertion (`pk` None)."""

    pk: int | None
    timestamp: datetime
    value: Decimal
    consumption: Decimal
    value_out: Decimal | None = None
    inserted: Decimal | None = None
    value_current: Decimal | None = None
    flags: int = 0


@dataclass(slots=True, unsafe_hash=True)
class IncomingReading:
    """A reading as received. `timestamp` None means its timestamp was out of range.

    `value` is the register (or the increment, for increment sensors); floats may be NaN or
    infinite, as clients can send them.
    """

    index: int
    timestamp: datetime | None
    value: float
    value_current: float | None = None
    value_out: float | None = None
    server_time: bool = False


@dataclass(frozen=True, slots=True)
class PendingRejection:
    """An earlier refused reading of the sensor that could turn out to start a new meter."""

    pk: int
    timestamp: datetime
    reason: str
    value: Decimal
    value_out: Decimal | None
    value_current: Decimal | None


PendingLoader = Callable[[datetime], Sequence[PendingRejection]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the client is told about one incoming reading."""

    status: int
    message: str | None = None
    reason: str | None = None  # set for refusals and duplicates

    @property
    def stored(self) -> bool:
        return self.status == 200 and self.message != DUPLICATE_MESSAGE


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refusal to keep in the rejected-readings log."""

    index: int
    timestamp: datetime | None
    reason: str
    message: str
    value: Decimal | None


@dataclass(frozen=True, slots=True)
class MeterReplacement:
    occurred_at: datetime
    previous_value: Decimal
    new_value: Decimal
    confirming_readings: int


@dataclass(slots=True)
class Plan:
    """Everything to write for one request; `outcomes` is keyed by the incoming index."""

    inserts: list[StoredReading] = field(default_factory=list)
    updates: list[StoredReading] = field(default_factory=list)
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    meter_replacements: list[MeterReplacement] = field(default_factory=list)
    resolved_pending: list[int] = field(default_factory=list)


def to_decimal(value: float) -> Decimal | None:
    """A finite float as a Decimal rounded to storage precision; None when not representable."""
    if not math.isfinite(value):
        return None
    try:
        number = Decimal(repr(value)).quantize(QUANTUM, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    if abs(number) >= MAX_STORABLE:
        return None
    return number


def _optional_decimal(value: float | None) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _minutes(later: datetime, earlier: datetime) -> Decimal:
    return Decimal((later - earlier).total_seconds()) / Decimal(60)


@dataclass(slots=True)
class _Candidate:
    """A refused reading that may belong to a new meter, with where it came from."""

    timestamp: datetime
    reason: str
    value: Decimal
    value_out: Decimal | None
    value_current: Decimal | None
    index: int | None = None  # incoming index, for readings of this request
    pending_pk: int | None = None  # RejectedReading pk, for earlier requests


def _filter_power(
    raw: float | None, previous: StoredReading | None, config: PlausibilityConfig
) -> tuple[Decimal | None, int]:
    if raw is None:
        return None, 0
    number = to_decimal(raw)
    if number is not None and config.min_power_w <= number <= config.max_power_w:
        return number, 0
    return (previous.value_current if previous else None), Flag.VALUE_CURRENT_REPLACED


def _filter_out(
    raw: float | None,
    previous: StoredReading | None,
    minutes: Decimal,
    config: PlausibilityConfig,
) -> tuple[Decimal | None, int]:
    if raw is None:
        return None, 0
    number = to_decimal(raw)
    if number is not None and number >= 0:
        if previous is None or previous.value_out is None:
            return number, 0
        rise = number - previous.value_out
        if Decimal(0) <= rise <= config.max_out_rate_per_minute * minutes:
            return number, 0
    return (previous.value_out if previous else None), Flag.VALUE_OUT_REPLACED


def _inserted(value_out: Decimal | None, previous: StoredReading | None) -> Decimal | None:
    if value_out is None or previous is None or previous.value_out is None:
        return None
    return value_out - previous.value_out


def _chain(candidates: Sequence[_Candidate], config: PlausibilityConfig) -> list[_Candidate]:
    """The longest run of consistent candidates ending with the newest one: same reason, never
    falling, rising no faster than plausible, all within the newest one's reason."""
    if not candidates:
        return []
    chain = [candidates[-1]]
    for candidate in reversed(candidates[:-1]):
        later = chain[0]
        if candidate.reason != later.reason:
            break
        rise = later.value - candidate.value
        if rise < 0 or rise > config.max_rate_per_minute * _minutes(
            later.timestamp, candidate.timestamp
        ):
            break
        chain.insert(0, candidate)
    return chain


def plan_ingestion(
    *,
    stored: Sequence[StoredReading],
    incoming: Sequence[IncomingReading],
    increments: bool,
    config: PlausibilityConfig,
    load_pending: PendingLoader = lambda _after: (),
    fast: bool = True,
) -> Plan:
    """Decide what to store for `incoming`, given the sensor's `stored` readings around them.

    `stored` must hold, in time order, every stored reading from the last one before the
    earliest incoming timestamp to the first one after the latest (so neighbours are known).
    `load_pending(after)` returns the sensor's unresolved refusals after `after` (time order);
    it is only called when a refusal could complete a meter replacement.
    With `fast` (the default) the common case (see `_plan_fast`) is planned vectorised; the plan
    is the same as the general path's.
    """
    if fast and not increments and len(incoming) >= FAST_PATH_MIN_READINGS:
        quick = _plan_fast(stored, incoming, config)
        if quick is not None:
            return quick
    plan = Plan()
    valid: list[IncomingReading] = []
    for reading in incoming:
        if reading.timestamp is None:
            _refuse(plan, reading, None, Reason.TIMESTAMP_OUT_OF_RANGE, None)
        else:
            valid.append(reading)
    valid.sort(key=lambda r: (r.timestamp, r.index))  # type: ignore[arg-type,return-value]

    existing = list(stored)
    by_time: dict[datetime, StoredReading] = {row.timestamp: row for row in existing}
    position = 0  # next stored row not yet passed
    last: StoredReading | None = None  # newest stored-or-planned reading before the current one
    dirty = False  # a planned insert sits between `last` stored row and the next stored row
    batch_candidates: list[_Candidate] = []

    def pass_stored_until(moment: datetime | None) -> None:
        """Walk past stored rows before `moment` (all of them for None)."""
        nonlocal position, last, dirty
        while position < len(existing) and (
            moment is None or existing[position].timestamp < moment
        ):
            row = existing[position]
            if dirty and last is not None:
                row = _recomputed(row, last, increments)
                if row != existing[position]:
                    plan.updates.append(row)
            last = row
            dirty = False
            position += 1

    for reading in valid:
        moment = reading.timestamp
        assert moment is not None  # noqa: S101 - filtered above
        pass_stored_until(moment)
        if moment in by_time:
            _duplicate(plan, reading, by_time[moment], increments)
            continue
        following = existing[position] if position < len(existing) else None
        outcome_row, refusal = _judge(reading, last, following, increments, config)
        if outcome_row is not None:
            plan.inserts.append(outcome_row)
            plan.outcomes[reading.index] = Outcome(200)
            by_time[moment] = outcome_row
            last = outcome_row
            dirty = following is not None
            batch_candidates.clear()
            continue
        assert refusal is not None  # noqa: S101 - _judge returns one of the two
        reason, number = refusal
        _refuse(plan, reading, moment, reason, number)
        if (
            reason in REPLACEMENT_REASONS
            and following is None
            and last is not None
            and number is not None
        ):
            batch_candidates.append(
                _Candidate(
                    timestamp=moment,
                    reason=reason,
                    value=number,
                    value_out=_optional_decimal(reading.value_out),
                    value_current=_optional_decimal(reading.value_current),
                    index=reading.index,
                )
            )
            replaced = _try_replacement(plan, last, batch_candidates, load_pending, config)
            if replaced is not None:
                last = replaced
                by_time[replaced.timestamp] = replaced
                batch_candidates.clear()
    pass_stored_until(None)
    return plan


def _recomputed(row: StoredReading, previous: StoredReading, increments: bool) -> StoredReading:
    """A stored reading after a reading was planned before it: its consumption changes."""
    if increments or row.flags & Flag.METER_REPLACED:
        return row
    return replace(
        row,
        consumption=row.value - previous.value,
        inserted=_inserted(row.value_out, previous),
    )


def _judge(
    reading: IncomingReading,
    previous: StoredReading | None,
    following: StoredReading | None,
    increments: bool,
    config: PlausibilityConfig,
) -> tuple[StoredReading | None, tuple[str, Decimal | None] | None]:
    """Accept (row to insert) or refuse (reason, value) one reading against its neighbours."""
    moment = reading.timestamp
    assert moment is not None  # noqa: S101 - caller filtered
    number = to_decimal(reading.value)
    if number is None:
        if math.isfinite(reading.value):
            return None, (Reason.VALUE_TOO_HIGH, None)  # beyond numeric(30, 6)
        return None, (Reason.VALUE_NOT_FINITE, None)
    if number < 0 or (number == 0 and not increments):
        return None, (Reason.VALUE_NOT_POSITIVE, number)

    flags = Flag.SERVER_TIME if reading.server_time else 0
    if following is not None:
        flags |= Flag.BACKFILLED
    minutes = _minutes(moment, previous.timestamp) if previous else Decimal(0)

    if increments:
        if following is not None:
            return None, (Reason.OUT_OF_ORDER, number)
        if previous is not None and number > config.max_rate_per_minute * minutes:
            return None, (Reason.VALUE_TOO_HIGH, number)
        register = (previous.value if previous else Decimal(0)) + number
        consumption = number
    else:
        register = number
        if previous is None:
            consumption = Decimal(0)
        else:
            consumption = number - previous.value
            if consumption < 0:
                return None, (Reason.VALUE_DECREASED, number)
            if consumption > config.max_rate_per_minute * minutes:
                return None, (Reason.VALUE_TOO_HIGH, number)
        if following is not None and number > following.value:
            return None, (Reason.VALUE_ABOVE_LATER, number)

    value_current, current_flag = _filter_power(reading.value_current, previous, config)
    value_out, out_flag = _filter_out(reading.value_out, previous, minutes, config)
    row = StoredReading(
        pk=None,
        timestamp=moment,
        value=register,
        consumption=consumption,
        value_out=value_out,
        inserted=_inserted(value_out, previous),
        value_current=value_current,
        flags=flags | current_flag | out_flag,
    )
    return row, None


def _duplicate(
    plan: Plan, reading: IncomingReading, existing: StoredReading, increments: bool
) -> None:
    number = to_decimal(reading.value)
    same = increments or number == existing.value
    plan.outcomes[reading.index] = Outcome(200, DUPLICATE_MESSAGE, Reason.DUPLICATE_CONFLICT)
    if not same:
        plan.rejections.append(
            Rejection(
                index=reading.index,
                timestamp=reading.timestamp,
                reason=Reason.DUPLICATE_CONFLICT,
                message=DUPLICATE_MESSAGE,
                value=number,
            )
        )


def _refuse(
    plan: Plan,
    reading: IncomingReading,
    moment: datetime | None,
    reason: str,
    number: Decimal | None,
) -> None:
    message = Reason.MESSAGES[reason]
    plan.outcomes[reading.index] = Outcome(400, message, reason)
    plan.rejections.append(
        Rejection(
            index=reading.index, timestamp=moment, reason=reason, message=message, value=number
        )
    )


def _try_replacement(
    plan: Plan,
    last: StoredReading,
    batch_candidates: list[_Candidate],
    load_pending: PendingLoader,
    config: PlausibilityConfig,
) -> StoredReading | None:
    """Store a confirmed new meter's readings; returns the newest of them, or None."""
    needed = config.replacement_readings
    candidates = list(batch_candidates)
    if len(_chain(candidates, config)) < needed:
        earlier = [
            _Candidate(
                timestamp=p.timestamp,
                reason=p.reason,
                value=p.value,
                value_out=p.value_out,
                value_current=p.value_current,
                pending_pk=p.pk,
            )
            for p in load_pending(last.timestamp)
            if p.reason in REPLACEMENT_REASONS and p.timestamp < candidates[0].timestamp
        ]
        candidates = earlier + candidates
    chain = _chain(candidates, config)
    if len(chain) < needed or chain[-1].value <= chain[0].value:
        return None
    if chain[0].reason == Reason.VALUE_DECREASED and not all(c.value < last.value for c in chain):
        return None

    previous: StoredReading | None = None
    for candidate in chain:
        if previous is None:
            consumption = Decimal(0)
            flags = Flag.METER_REPLACED
            inserted = None
        else:
            consumption = candidate.value - previous.value
            flags = 0
            inserted = _inserted(candidate.value_out, previous)
        row = StoredReading(
            pk=None,
            timestamp=candidate.timestamp,
            value=candidate.value,
            consumption=consumption,
            value_out=candidate.value_out,
            inserted=inserted,
            value_current=candidate.value_current,
            flags=flags,
        )
        plan.inserts.append(row)
        previous = row
        if candidate.pending_pk is not None:
            plan.resolved_pending.append(candidate.pending_pk)
        if candidate.index is not None:
            plan.outcomes[candidate.index] = Outcome(200, REPLACEMENT_MESSAGE)
            plan.rejections = [r for r in plan.rejections if r.index != candidate.index]
    plan.meter_replacements.append(
        MeterReplacement(
            occurred_at=chain[0].timestamp,
            previous_value=last.value,
            new_value=chain[0].value,
            confirming_readings=len(chain),
        )
    )
    return previous


# --- fast path -----------------------------------------------------------------------------------

# Below this many readings numpy's fixed cost outweighs what vectorising saves (a single live
# reading is planned faster by the general path).
FAST_PATH_MIN_READINGS = 16

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_OK = Outcome(200)
# Floats handled by the fast path: their micro-units fit comfortably in int64.
_FAST_LIMIT = 1e12
_MICRO_CAP = 2**62


def _micro(number: Decimal) -> int | None:
    """`number` in integer micro-units, or None when it has finer digits or is too large."""
    scaled = number.scaleb(6)
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        return None
    micro = int(scaled)
    return micro if abs(micro) < _MICRO_CAP // 4 else None


def _rate_thresholds(deltas: np.ndarray, rate: Decimal) -> np.ndarray:
    """Per time step (µs), the largest rise in micro-units that `rise > rate * minutes` (as the
    general path computes it, with Decimals) does not refuse."""
    unique, inverse = np.unique(deltas, return_inverse=True)
    limits = []
    for step in unique.tolist():
        minutes = Decimal(timedelta(microseconds=step).total_seconds()) / Decimal(60)
        limit = (rate * minutes).scaleb(6).to_integral_value(rounding=ROUND_FLOOR)
        limits.append(max(-_MICRO_CAP, min(_MICRO_CAP, int(limit))))
    return np.array(limits, dtype=np.int64)[inverse.reshape(-1)]


def _quantized(raw: float) -> Decimal:
    """`to_decimal` for a finite float below `_FAST_LIMIT` (it cannot fail there)."""
    return Decimal(repr(raw)).quantize(QUANTUM, rounding=ROUND_HALF_UP)


# Below this magnitude float(x) * 1e6 is within 0.01 of repr(x) in micro-units, so rounding it to
# the nearest integer gives `to_decimal` unless it lies near a tie (checked).
_VECTOR_LIMIT = 1e7
_TIE_MARGIN = 0.05


def _micros(raw: np.ndarray) -> np.ndarray | None:
    """`to_decimal` of each float in integer micro-units; None when some value is not finite or
    not below `_FAST_LIMIT`. Vectorised; values near a tie and large values go through
    `to_decimal`'s own arithmetic."""
    if not bool((np.abs(raw) < _FAST_LIMIT).all()):  # also false for NaN
        return None
    scaled = raw * 1e6
    micros = np.rint(scaled).astype(np.int64)
    exact = (
        (np.abs(raw) >= _VECTOR_LIMIT)
        | (np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < _TIE_MARGIN)
        | (micros == 0)  # keeps the sign of -0.0 (see `_decimals`)
    )
    for position in np.flatnonzero(exact).tolist():
        micros[position] = int(_quantized(float(raw[position])).scaleb(6))
    return micros


def _decimals(raw: np.ndarray) -> tuple[np.ndarray, list[Decimal]] | None:
    """`to_decimal` of each float as integer micro-units and as Decimals (equal values share one
    Decimal); None where `_micros` is None. `-0.0` keeps its sign, as `to_decimal` does."""
    micros = _micros(raw)
    if micros is None:
        return None
    unique, inverse = np.unique(micros, return_inverse=True)
    shared = [Decimal(m).scaleb(-6) for m in unique.tolist()]
    numbers = [shared[i] for i in inverse.reshape(-1).tolist()]
    for position in np.flatnonzero(micros == 0).tolist():
        numbers[position] = _quantized(float(raw[position]))
    return micros, numbers


def micros_of(raw: np.ndarray) -> np.ndarray | None:
    """Floats as `to_decimal` rounds them, in integer micro-units; None when one is not finite
    or not below 10**12."""
    return _micros(raw)


def micro_of(number: Decimal) -> int | None:
    """A Decimal in integer micro-units; None when it has finer digits or is too large."""
    return _micro(number)


def from_micro(micro: int) -> Decimal:
    """Integer micro-units as the Decimal `to_decimal` gives (6 decimal places)."""
    return Decimal(micro).scaleb(-6)


@dataclass(frozen=True, slots=True)
class ReadingColumns:
    """Incoming register readings as columns (one entry per reading, in request order).

    `times_us`: int64 µs since the epoch (already converted and known to be in range);
    `value_current`/`value_out` hold any number where `has_current`/`has_out` is False;
    `server_time` marks readings that carry the server's time.
    """

    times_us: np.ndarray
    value: np.ndarray
    value_current: np.ndarray
    has_current: np.ndarray
    value_out: np.ndarray
    has_out: np.ndarray
    server_time: np.ndarray


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """Every reading of a `ReadingColumns` accepted: the rows to insert, in request order, as
    columns. Numbers are integer micro-units (exactly the Decimals the general path stores);
    `has_*` False means NULL."""

    times_us: np.ndarray
    value: np.ndarray
    consumption: np.ndarray
    value_out: np.ndarray
    has_out: np.ndarray
    inserted: np.ndarray
    has_inserted: np.ndarray
    value_current: np.ndarray
    has_current: np.ndarray
    flags: np.ndarray

    def __len__(self) -> int:
        return len(self.times_us)

    def rows(self) -> list[StoredReading]:
        """The planned rows as the general path plans them (one object per reading: for the
        database backends without COPY, and for tests)."""
        result = []
        for (
            moment,
            value,
            consumption,
            out,
            has_out,
            fed,
            has_fed,
            current,
            has_current,
            flags,
        ) in zip(
            self.times_us.tolist(),
            self.value.tolist(),
            self.consumption.tolist(),
            self.value_out.tolist(),
            self.has_out.tolist(),
            self.inserted.tolist(),
            self.has_inserted.tolist(),
            self.value_current.tolist(),
            self.has_current.tolist(),
            self.flags.tolist(),
            strict=True,
        ):
            result.append(
                StoredReading(
                    None,
                    _EPOCH + timedelta(microseconds=moment),
                    from_micro(value),
                    from_micro(consumption),
                    from_micro(out) if has_out else None,
                    from_micro(fed) if has_fed else None,
                    from_micro(current) if has_current else None,
                    flags,
                )
            )
        return result


def _present_micros(raw: np.ndarray) -> np.ndarray | None:
    """`_micros` of present optional values; None also when one rounds to a negative zero (the
    general path keeps that sign in its Decimal, so such a batch is left to it)."""
    micros = _micros(raw)
    if micros is None or bool(((micros == 0) & np.signbit(raw)).any()):
        return None
    return micros


def _rises_within(
    micros: np.ndarray, previous: np.ndarray, steps: np.ndarray, rate: Decimal
) -> bool:
    rises = micros - previous
    if not rises.size:
        return True
    return bool(((rises >= 0) & (rises <= _rate_thresholds(steps, rate))).all())


def plan_columns(
    last: StoredReading | None, columns: ReadingColumns, config: PlausibilityConfig
) -> ColumnPlan | None:
    """The plan of a plain register batch appended after the stored readings, or None.

    `last` is the sensor's newest stored reading (None: it has none). Handles only: timestamps
    strictly increase in the given order and all lie after `last`; every value is finite and
    > 0 (after rounding to storage precision), never decreases and rises within the rate limit;
    every value_current is inside the power band; every value_out is >= 0, never decreases and
    rises within its rate. Then every reading is stored as it came, nothing else changes, and
    the rows are those the general path (`plan_ingestion(fast=False)`) plans. Anything else:
    None, and the caller takes the general path. Vectorised: no Python object per reading.
    """
    times = columns.times_us
    count = len(times)
    if count == 0:
        return None
    steps = np.diff(times)
    if not bool((steps > 0).all()):
        return None
    micros = _micros(columns.value)
    if micros is None or not bool((micros > 0).all()):
        return None

    if last is not None:
        if last.timestamp.tzinfo is None:
            return None  # naive times: left to the general path
        last_us = (last.timestamp - _EPOCH) // _ONE_US
        last_micro = _micro(last.value)
        if not last_us < int(times[0]) or last_micro is None:
            return None
        previous = np.concatenate(([last_micro], micros[:-1]))
        all_steps = np.concatenate(([int(times[0]) - last_us], steps))
        if not _rises_within(micros, previous, all_steps, config.max_rate_per_minute):
            return None
        consumption = micros - previous
    else:
        all_steps = np.concatenate(([1], steps))
        if not _rises_within(micros[1:], micros[:-1], steps, config.max_rate_per_minute):
            return None
        consumption = np.concatenate(([0], np.diff(micros)))

    has_current = columns.has_current.astype(bool)
    currents = np.zeros(count, dtype=np.int64)
    if bool(has_current.any()):
        present = _present_micros(columns.value_current[has_current])
        low, high = _micro(config.min_power_w), _micro(config.max_power_w)
        if present is None or low is None or high is None:
            return None
        if not bool(((present >= low) & (present <= high)).all()):
            return None
        currents[has_current] = present

    has_out = columns.has_out.astype(bool)
    outs = np.zeros(count, dtype=np.int64)
    inserted = np.zeros(count, dtype=np.int64)
    has_inserted = np.zeros(count, dtype=bool)
    if bool(has_out.any()):
        present = _present_micros(columns.value_out[has_out])
        if present is None or not bool((present >= 0).all()):
            return None
        outs[has_out] = present
        previous_out = np.concatenate(([0], outs[:-1]))
        previous_has = np.concatenate(([False], has_out[:-1]))
        if last is not None and last.value_out is not None:
            first = _micro(last.value_out)
            if first is None:
                return None
            previous_out[0] = first
            previous_has[0] = True
        has_inserted = has_out & previous_has
        if not _rises_within(
            outs[has_inserted],
            previous_out[has_inserted],
            all_steps[has_inserted],
            config.max_out_rate_per_minute,
        ):
            return None
        inserted = np.where(has_inserted, outs - previous_out, 0)

    flags = np.where(columns.server_time.astype(bool), Flag.SERVER_TIME, 0).astype(np.int64)
    return ColumnPlan(
        times_us=times,
        value=micros,
        consumption=consumption,
        value_out=outs,
        has_out=has_out,
        inserted=inserted,
        has_inserted=has_inserted,
        value_current=currents,
        has_current=has_current,
        flags=flags,
    )


def _plan_fast(
    stored: Sequence[StoredReading],
    incoming: Sequence[IncomingReading],
    config: PlausibilityConfig,
) -> Plan | None:
    """`plan_columns` for readings as objects: the plan of a plain register batch appended after
    the stored readings, or None (the conditions are `plan_columns`'). `stored` must all lie
    before the earliest incoming reading."""
    count = len(incoming)
    if count == 0:
        return None
    moments: list[datetime] = []
    for reading in incoming:
        if reading.timestamp is None or reading.timestamp.tzinfo is None:
            return None
        moments.append(reading.timestamp)
    if stored:
        for earlier, later in pairwise(stored):
            if not earlier.timestamp < later.timestamp:
                return None
    last = stored[-1] if stored else None
    times = np.fromiter(((m - _EPOCH) // _ONE_US for m in moments), dtype=np.int64, count=count)
    currents = [r.value_current for r in incoming]
    outs = [r.value_out for r in incoming]
    columns = ReadingColumns(
        times_us=times,
        value=np.fromiter((r.value for r in incoming), dtype=np.float64, count=count),
        value_current=np.array([0.0 if c is None else c for c in currents], dtype=np.float64),
        has_current=np.array([c is not None for c in currents], dtype=bool),
        value_out=np.array([0.0 if o is None else o for o in outs], dtype=np.float64),
        has_out=np.array([o is not None for o in outs], dtype=bool),
        server_time=np.array([r.server_time for r in incoming], dtype=bool),
    )
    planned = plan_columns(last, columns, config)
    if planned is None:
        return None
    plan = Plan()
    plan.outcomes = dict.fromkeys((r.index for r in incoming), _OK)
    rows = planned.rows()
    if last is None:  # the general path's Decimal for "no consumption known"
        rows[0] = replace(rows[0], consumption=Decimal(0))
    plan.inserts = rows
    return plan
