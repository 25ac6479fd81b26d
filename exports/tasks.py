"""Celery tasks of the exports: thin wrappers over services (ids in, nothing out)."""

from __future__ import annotations

from energyleaf.common.tasks import database_task

RUN_TASK_NAME = "exports.run_export_job"
CLEANUP_TASK_NAME = "exports.cleanup_exports"


@database_task(
    RUN_TASK_NAME,
    # The run is idempotent (status guard, files renamed into place, same bytes every time): the
    # message is acknowledged only after the run, and a worker killed mid-run hands it back.
    acks_late=True,
    reject_on_worker_lost=True,
    retry_backoff=10,
    retry_backoff_max=300,
    max_retries=5,
    # Long exports: below the Redis broker's visibility timeout (3600 s by default), or the
    # message would be handed to a second worker while the first still runs.
    soft_time_limit=3000,
    time_limit=3300,
)
def run_export_job_task(job_id: int) -> None:
    """Write the dataset files of export job `job_id` (no-op when it already finished)."""
    from exports.services.dataset import export_job_run

    export_job_run(job_id=job_id)


@database_task(
    CLEANUP_TASK_NAME,
    acks_late=True,
    retry_backoff=30,
    max_retries=3,
    soft_time_limit=600,
    time_limit=660,
)
def cleanup_exports_task() -> None:
    """Delete export files past retention and re-queue stuck export jobs."""
    from exports.services.dataset import export_jobs_cleanup

    export_jobs_cleanup()
