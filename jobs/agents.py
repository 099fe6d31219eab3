"""Agents' availability jobs: the after-call work limit, and a minute sweep for idle chat agents and
after-call work whose scheduled return was lost."""
from jobs import job
from portal.services import agent_states
from portal.services.jobs import Every


@job("agents.after_call_timeout", queue="scheduled", timeout=300, tracked=False)
def after_call_timeout(interval_id: int) -> list[int]:
    return agent_states.end_overdue_after_call_work(interval_id=interval_id)


@job("agents.sweep", queue="scheduled", timeout=300, tracked=False, schedule=Every(minutes=1), title="agent sweep")
def sweep() -> dict:
    return {"idle": agent_states.idle_sweep(), "after_call": agent_states.end_overdue_after_call_work()}
