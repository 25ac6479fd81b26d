"""What a simulation counted: counters per client style, the readings the server confirmed, and
the summary of a run.

Counting (per style, `StyleCounters`). Every reading a client takes ends in exactly one of
`accepted`, `duplicates`, `refused`, `lost_by_client` or (still in a buffer when the run stops)
`pending`; so `readings == accepted + duplicates + refused + lost_by_client + pending`. Every
transmission of a reading (a batch of k readings counts k) ends in exactly one of `accepted`,
`duplicates`, `refused`, `unauthorized` or `failed`; so
`sent == accepted + duplicates + refused + unauthorized + failed`. A reading is accepted at most
once, which is why `accepted` appears in both identities. `StyleCounters.inconsistencies()` checks
both. How one answer is judged: `simulation.protocol`.

Pure Python, no Django.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from simulation.config import Style


@dataclass(slots=True)
class StyleCounters:
    """Counters of one client style (see the module docstring for the two identities)."""

    clients: int = 0
    readings: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    unauthorized: int = 0
    failed: int = 0
    buffered: int = 0
    resent: int = 0
    resent_accepted: int = 0
    lost_by_client: int = 0
    pending: int = 0
    token_requests: int = 0
    tokens_received: int = 0
    scripts_received: int = 0
    scripts_confirmed: int = 0
    connects: int = 0
    client_errors: int = 0
    refused_reasons: Counter[str] = field(default_factory=Counter)
    failure_reasons: Counter[str] = field(default_factory=Counter)
    token_failures: Counter[str] = field(default_factory=Counter)
    protocol_errors: Counter[str] = field(default_factory=Counter)

    def merge(self, other: StyleCounters) -> None:
        """Add `other`'s counts to these."""
        for name in _INT_COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in _REASON_COUNTERS:
            getattr(self, name).update(getattr(other, name))

    def inconsistencies(self) -> list[str]:
        """The identities of the module docstring that do not hold (empty when all add up)."""
        problems = []
        finals = self.accepted + self.duplicates + self.refused + self.lost_by_client
        if self.readings != finals + self.pending:
            problems.append(
                f"readings {self.readings} != accepted + duplicates + refused + lost_by_client"
                f" + pending = {finals + self.pending}"
            )
        outcomes = self.accepted + self.duplicates + self.refused + self.unauthorized + self.failed
        if self.sent != outcomes:
            problems.append(
                f"sent {self.sent} != accepted + duplicates + refused + unauthorized + failed"
                f" = {outcomes}"
            )
        if self.refused != sum(self.refused_reasons.values()):
            problems.append("refused does not match its reasons")
        if self.failed != sum(self.failure_reasons.values()):
            problems.append("failed does not match its reasons")
        return problems

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _INT_COUNTERS}
        for name in _REASON_COUNTERS:
            data[name] = dict(sorted(getattr(self, name).items()))
        return data


_REASON_COUNTERS: Final = (
    "refused_reasons",
    "failure_reasons",
    "token_failures",
    "protocol_errors",
)
_INT_COUNTERS: Final = tuple(
    name for name in StyleCounters.__dataclass_fields__ if name not in _REASON_COUNTERS
)


@dataclass(frozen=True, slots=True)
class StoredReading:
    """A reading the server answered 2xx for (`duplicate`: it had it already).

    `time_ns` is the reading's time in ns since the epoch (a multiple of 1000: readings are taken
    with microsecond resolution). With `timestamped` the server got exactly this time; without,
    the server stored its own receive time, shortly after `time_ns`.
    """

    client_id: str
    time_ns: int
    value_kwh: float
    timestamped: bool
    duplicate: bool


@dataclass(frozen=True, slots=True)
class UncertainReading:
    """A reading whose transmission broke after it was sent (or got an undecodable 2xx): the
    server may have stored it although the client counted it as failed."""

    client_id: str
    time_ns: int
    value_kwh: float
    timestamped: bool


@dataclass(slots=True)
class SimulationSummary:
    """Result of a run: counters per style and the readings the server confirmed.

    `stored` lists every reading answered 2xx (accepted or duplicate), `maybe_stored` the
    readings whose answer was lost. For a reliability check against the database: every
    `stored` reading must be in the database exactly once, and every database row of these
    sensors must be a `stored` or `maybe_stored` reading.
    """

    url: str
    style: Style
    count: int
    seed: int
    started_at: float
    stopped_at: float
    counters: dict[str, StyleCounters]
    stored: list[StoredReading] = field(default_factory=list)
    maybe_stored: list[UncertainReading] = field(default_factory=list)

    def accepted_keys(self, *, include_duplicates: bool = False) -> set[tuple[str, int]]:
        """(client_id, reading time in ns) of the readings the server accepted as new."""
        return {
            (reading.client_id, reading.time_ns)
            for reading in self.stored
            if include_duplicates or not reading.duplicate
        }

    def inconsistencies(self) -> list[str]:
        """Counter identities that do not hold, prefixed with their style."""
        return [
            f"{style}: {problem}"
            for style, counters in self.counters.items()
            for problem in counters.inconsistencies()
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (times as ISO 8601 UTC and epoch seconds)."""
        return {
            "url": self.url,
            "style": self.style,
            "count": self.count,
            "seed": self.seed,
            "started_at": _iso(self.started_at),
            "stopped_at": _iso(self.stopped_at),
            "elapsed_s": round(self.stopped_at - self.started_at, 3),
            "counters": {style: counters.to_dict() for style, counters in self.counters.items()},
            "consistent": not self.inconsistencies(),
            "stored": [
                {
                    "client_id": reading.client_id,
                    "time_ns": reading.time_ns,
                    "value_kwh": reading.value_kwh,
                    "timestamped": reading.timestamped,
                    "duplicate": reading.duplicate,
                }
                for reading in self.stored
            ],
            "maybe_stored": [
                {
                    "client_id": reading.client_id,
                    "time_ns": reading.time_ns,
                    "value_kwh": reading.value_kwh,
                    "timestamped": reading.timestamped,
                }
                for reading in self.maybe_stored
            ],
        }

    def to_json(self) -> str:
        """`to_dict()` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def format_text(self) -> str:
        """A few human-readable lines for the console."""
        lines = [
            f"Simulated {self.count} {self.style} sensor(s) against {self.url} for "
            f"{self.stopped_at - self.started_at:.1f} s (seed {self.seed})."
        ]
        for style, c in self.counters.items():
            lines.append(
                f"{style}: readings {c.readings}; sent {c.sent} = accepted {c.accepted} + "
                f"duplicates {c.duplicates} + refused {c.refused} + unauthorized "
                f"{c.unauthorized} + failed {c.failed}"
            )
            lines.append(
                f"  buffered {c.buffered}, resent {c.resent} (accepted {c.resent_accepted}), "
                f"lost by client {c.lost_by_client}, pending {c.pending}"
            )
            lines.append(
                f"  tokens {c.tokens_received}/{c.token_requests}, scripts received "
                f"{c.scripts_received}, confirmed {c.scripts_confirmed}, connections "
                f"{c.connects}, client errors {c.client_errors}"
            )
            for title, reasons in (
                ("refused", c.refused_reasons),
                ("failed", c.failure_reasons),
                ("token failures", c.token_failures),
                ("protocol errors", c.protocol_errors),
            ):
                if reasons:
                    text = ", ".join(f"{reason} x{n}" for reason, n in reasons.most_common())
                    lines.append(f"  {title}: {text}")
        problems = self.inconsistencies()
        lines.append("Counters add up." if not problems else "INCONSISTENT: " + "; ".join(problems))
        return "\n".join(lines)


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat()
