"""Agents' availability jobs: the after-call work limit, and a minute sweep for idle chat agents and
after-call work whose scheduled return was lost."""
from datetime import timedelta

from jobs import _app_context
from portal.models.base import utcnow

SWEEP_EVERY = timedelta(minutes=1)


def after_call_timeout(interval_id: int) -> list[int]:
    from portal.services.agent_states import end_overdue_after_call_work

    with _app_context():
        return end_overdue_after_call_work(interval_id=interval_id)


def sweep() -> dict:
    from portal.services.agent_states import end_overdue_after_call_work, idle_sweep

    with _app_context():
        try:
            return {"idle": idle_sweep(), "after_call": end_overdue_after_call_work()}
        finally:
            schedule_sweep()  # even when this sweep failed: one exception must not stop the sweeps for good


def schedule_sweep() -> None:
    """One pending sweep per minute slot: the job ID names the slot, so scheduling twice is harmless."""
    from portal.queue import get_queue

    slot = (utcnow() + SWEEP_EVERY).replace(second=0, microsecond=0)
    get_queue("scheduled").enqueue_at(slot, "jobs.agents.sweep", job_id=f"agents-sweep-{slot:%Y%m%d%H%M}",
                                      job_timeout=300)
