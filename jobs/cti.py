"""The daily CTI log cleanup: events older than each service's retention are deleted."""
from datetime import timedelta

from jobs import _app_context
from portal.models.base import utcnow

PURGE_HOUR_UTC = 18  # 03:00 in Seoul, the quietest hour of the demo's customers


def purge_log() -> dict:
    from portal.services import cti_log

    with _app_context():
        deleted = cti_log.purge_expired()
        schedule_purge()
        return deleted


def schedule_purge() -> None:
    """One pending cleanup per day: the job ID names the day, so scheduling twice is harmless."""
    from portal.queue import get_queue

    now = utcnow()
    at = now.replace(hour=PURGE_HOUR_UTC, minute=0, second=0, microsecond=0)
    if at <= now:
        at += timedelta(days=1)
    get_queue("scheduled").enqueue_at(at, "jobs.cti.purge_log", job_id=f"cti-log-purge-{at:%Y%m%d}", job_timeout=3600)
