"""Closing finished months (materializing their charges), on the 1st of each month."""
from jobs import tracked_job
from portal.extensions import db
from portal.services import billing
from portal.services import jobs as job_runs


@tracked_job
def close_months(run) -> int:
    closed = billing.close_finished_months()
    job_runs.finish(run, result={"closed": closed}, message=f"{closed} month(s) closed")
    billing.schedule_month_closing()
    db.session.commit()
    return closed
