"""Reading accounting: what the simulated clients were told against what the database holds.

Keys are (client_id upper-cased, reading time in ns since the epoch). The simulator runs with
`live_timestamps`, so every reading carries its time and the comparison is exact:

* lost: answered 2xx (accepted or `Duplicate`) but not in the database;
* duplicated: a key the server accepted as new more than once, or stored in more than one row;
* unexplained: a database row of these sensors that no client was told was stored and whose
  answer was not lost in transit (the server stored a reading it answered non-2xx for).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulation.summary import SimulationSummary, StyleCounters

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Key = tuple[str, int]


def ns_of(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def stored_keys(client_ids: Iterable[str]) -> list[Key]:
    """Every reading row of these sensors (duplicates kept, so they can be counted)."""
    from django.db import connection

    from sensors.models import Reading

    ids = [client_id.upper() for client_id in client_ids]
    rows = Reading.objects.filter(sensor__client_id__in=ids).values_list(
        "sensor__client_id", "timestamp"
    )
    keys = [(client_id.upper(), ns_of(moment)) for client_id, moment in rows.iterator(5000)]
    connection.close()
    return keys


def rejected_count(client_ids: Iterable[str]) -> int:
    from django.db import connection

    from sensors.models import RejectedReading

    ids = [client_id.upper() for client_id in client_ids]
    count = RejectedReading.objects.filter(sensor__client_id__in=ids).count()
    connection.close()
    return count


@dataclass
class Accounting:
    """The sum over the runs of several simulations (one per client style) of one scenario."""

    counters: dict[str, StyleCounters] = field(default_factory=dict)
    inconsistencies: list[str] = field(default_factory=list)
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    unexplained: int = 0
    rejected_rows: int = 0
    lost_examples: list[str] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(c, name)) for c in self.counters.values())

    def reasons(self, name: str) -> dict[str, int]:
        merged: Counter[str] = Counter()
        for c in self.counters.values():
            merged.update(getattr(c, name))
        return dict(merged)

    @property
    def refused_without_reason(self) -> int:
        return self.total("refused") - sum(self.reasons("refused_reasons").values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_style": {style: c.to_dict() for style, c in self.counters.items()},
            "inconsistencies": self.inconsistencies,
            "stored_rows": self.stored,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "unexplained_rows": self.unexplained,
            "rejected_rows": self.rejected_rows,
            "refused_reasons": self.reasons("refused_reasons"),
            "failure_reasons": self.reasons("failure_reasons"),
            "lost_examples": self.lost_examples,
        }


def account(summaries: Sequence[SimulationSummary], client_ids: Iterable[str]) -> Accounting:
    ids = list(client_ids)
    result = Accounting()
    answered_2xx: set[Key] = set()
    new_counts: Counter[Key] = Counter()
    in_transit: set[Key] = set()
    for summary in summaries:
        result.counters.update(summary.counters)
        result.inconsistencies.extend(summary.inconsistencies())
        for reading in summary.stored:
            key = (reading.client_id.upper(), reading.time_ns)
            answered_2xx.add(key)
            if not reading.duplicate:
                new_counts[key] += 1
        for uncertain in summary.maybe_stored:
            in_transit.add((uncertain.client_id.upper(), uncertain.time_ns))
    rows = Counter(stored_keys(ids))
    result.stored = sum(rows.values())
    missing = sorted(answered_2xx - rows.keys())
    result.lost = len(missing)
    result.lost_examples = [f"{client_id} {time_ns}" for client_id, time_ns in missing[:10]]
    result.duplicated = sum(n - 1 for n in new_counts.values() if n > 1) + sum(
        n - 1 for n in rows.values() if n > 1
    )
    result.unexplained = len(rows.keys() - answered_2xx - in_transit)
    result.rejected_rows = rejected_count(ids)
    return result
