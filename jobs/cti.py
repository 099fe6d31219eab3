"""CTI log jobs: the export of a day range to .xlsx, and the daily cleanup of events past each service's
retention (and of export files past a day)."""
from datetime import date

from jobs import job, progress_apart
from portal.extensions import db
from portal.models import Service
from portal.services import cti_log, storage
from portal.services import jobs as job_runs
from portal.services.jobs import Daily


@job(cti_log.EXPORT_KIND, timeout=3600)
def export_log(run, service_id: int, first: str, last: str) -> int:
    service = db.session.get(Service, service_id)
    first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)

    def progress(done: int, total: int) -> None:
        progress_apart(run.id, done * 95 // max(total, 1), "events_written", {"done": done, "total": total})

    spool, count = cti_log.workbook(service, first_day, last_day, progress=progress)
    name = cti_log.export_file_name(service, first_day, last_day)
    with spool:
        stored = storage.store(service.organization_id, purpose=cti_log.EXPORT_PURPOSE, filename=name,
                               content_type=cti_log.XLSX, data=spool.read())
    job_runs.finish(run, result={"file_id": stored.id, "rows": count, "filename": name}, code="events",
                    params={"n": count})
    return count


# 03:00 in Seoul, the quietest hour of the demo's customers
@job("cti.log_purge", queue="scheduled", timeout=3600, tracked=False, schedule=Daily(hour=18), title="CTI log cleanup")
def purge_log() -> dict:
    deleted = purge_expired()
    cti_log.purge_exports()
    return deleted


def purge_expired(now=None, chunk: int = 5000) -> dict[str, int]:
    """Delete each service's CTI events past its retention (see `cti_log.delete_expired`). Returns deleted rows
    per service ID."""
    deleted: dict[str, int] = {}
    for service_key, count in cti_log.delete_expired(now, chunk):
        db.session.commit()  # a chunk per transaction, so the events table is never locked for long
        deleted[service_key] = deleted.get(service_key, 0) + count
    return deleted
