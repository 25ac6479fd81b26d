"""Raw-reading retention: readings older than ENERGYLEAF_READING_RETENTION_DAYS are deleted once
the 15-minute rollups hold them (the rollups are kept forever)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from analytics.selectors.aggregates import rollups_cover_until
from analytics.services.rollups import BUCKET, bucket_floor
from energyleaf.common.time import retention_cut_off
from sensors.selectors.readings import readings_received_since
from sensors.services import readings_delete_before

# At most this many readings per run: a first run over years of readings spreads over days
# instead of outliving the task's time limit.
MAX_ROWS_PER_RUN = 2_000_000


def readings_retention_apply(*, now: datetime, max_rows: int | None = MAX_ROWS_PER_RUN) -> int:
    """Delete raw readings past the retention (ENERGYLEAF_READING_RETENTION_DAYS; 0 keeps them all)
    that the rollups cover; returns how many were deleted.

    Only whole 15-minute buckets before both the cut-off and the rollups' `covers_until` go, and
    only readings received before `covers_until` (so already summed in their bucket). A bucket
    holding a reading received later keeps all its readings, because the next refresh
    recomputes that bucket from the raw readings. The newest reading of each sensor is kept.
    """
    days = int(settings.ENERGYLEAF_READING_RETENTION_DAYS)
    cut_off = retention_cut_off(now=now, days=days)
    covered = rollups_cover_until()
    if cut_off is None or covered is None:
        return 0
    before = bucket_floor(min(cut_off, covered))
    late = readings_received_since(before=before, received_since=covered)
    keep = {(sensor_id, bucket_floor(moment)) for sensor_id, moment in late}
    return readings_delete_before(
        before=before,
        received_before=covered,
        keep_ranges=[(sensor_id, start, start + BUCKET) for sensor_id, start in sorted(keep)],
        max_rows=max_rows,
    )
