"""CTI log jobs: the export of a day range to .xlsx, and the daily cleanup of events past each service's
retention (and of export files past a day)."""
from datetime import date, timedelta

from jobs import _app_context, tracked_job
from portal.models.base import utcnow

PURGE_HOUR_UTC = 18  # 03:00 in Seoul, the quietest hour of the demo's customers


@tracked_job
def export_log(run, service_id: int, first: str, last: str) -> int:
    from flask_babel import gettext as _

    from portal.extensions import db
    from portal.models import Service
    from portal.services import cti_log, storage
    from portal.services import jobs as job_runs

    service = db.session.get(Service, service_id)
    first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)

    def progress(done: int, total: int) -> None:
        job_runs.report_progress_apart(run.id, done * 95 // max(total, 1),
                                       _("%(done)s of %(total)s events written", done=f"{done:,}", total=f"{total:,}"))

    spool, count = cti_log.workbook(service, first_day, last_day, progress=progress)
    name = cti_log.export_file_name(service, first_day, last_day)
    with spool:
        stored = storage.store(service.organization_id, purpose=cti_log.EXPORT_PURPOSE, filename=name,
                               content_type=cti_log.XLSX, data=spool.read())
    job_runs.finish(run, result={"file_id": stored.id, "rows": count, "filename": name},
                    message=_("%(n)s events", n=f"{count:,}"))
    return count


def purge_log() -> dict:
    from portal.services import cti_log

    with _app_context():
        try:
            deleted = cti_log.purge_expired()
            cti_log.purge_exports()
            return deleted
        finally:
            schedule_purge()  # even when this cleanup failed: one exception must not stop them for good


def schedule_purge() -> None:
    """One pending cleanup per day: the job ID names the day, so scheduling twice is harmless."""
    from portal.queue import get_queue

    now = utcnow()
    at = now.replace(hour=PURGE_HOUR_UTC, minute=0, second=0, microsecond=0)
    if at <= now:
        at += timedelta(days=1)
    get_queue("scheduled").enqueue_at(at, "jobs.cti.purge_log", job_id=f"cti-log-purge-{at:%Y%m%d}", job_timeout=3600)
