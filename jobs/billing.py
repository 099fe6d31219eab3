"""Closing finished months (materializing their charges), on the 1st of each month."""
from jobs import tracked_job
from portal.extensions import db
from portal.services import billing
from portal.services import jobs as job_runs


@tracked_job
def close_months(run) -> int:
    try:
        closed = billing.close_finished_months()
        job_runs.finish(run, result={"closed": closed}, message=f"{closed} month(s) closed")
        return closed
    finally:
        # Next month's closing is scheduled whatever happened: a failed closing is retried by its own run.
        db.session.rollback()  # a failed attempt's half-work is not committed with it
        billing.schedule_month_closing()
        db.session.commit()
