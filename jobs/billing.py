"""Closing finished months (materializing their charges), on the 1st of each month."""
from datetime import time

from jobs import job
from portal.services import billing
from portal.services import jobs as job_runs
from portal.services.jobs import Monthly


@job("billing.close_months", queue="scheduled", timeout=1800, retries=3, title="Month closing",
     schedule=Monthly(at=time(0, 5), zones=billing.time_zones_in_use))
def close_months(run) -> int:
    closed = billing.close_finished_months()
    job_runs.finish(run, result={"closed": closed}, code="months_closed", params={"n": closed})
    return closed
