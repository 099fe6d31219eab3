"""The charge rule at its edges, and closing months (idempotent)."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import MonthlyCharge, Service
from portal.services import billing
from portal.services.billing import Span, charge_for_month
from portal.services.contracts import Actor, set_status, sign_contract, terminate

M = 310_000  # divides evenly by 31 days: 10,000 a day in a 31-day month


def test_a_whole_month_costs_the_monthly_total():
    assert charge_for_month([Span(date(2026, 1, 1), None, M)], date(2026, 3, 1)) == billing.Charge(M, 31)


def test_a_contract_starting_mid_month_is_billed_from_its_first_day():
    # Starts on the 22nd of a 31-day month: days 22..31 = 10 days.
    assert charge_for_month([Span(date(2026, 3, 22), None, M)], date(2026, 3, 1)) == billing.Charge(100_000, 10)


def test_a_contract_changed_mid_month_bills_each_version_for_its_days():
    spans = [Span(date(2026, 1, 1), date(2026, 3, 11), 310_000), Span(date(2026, 3, 11), None, 620_000)]
    # 10 days at 10,000 and 21 days at 20,000
    assert charge_for_month(spans, date(2026, 3, 1)) == billing.Charge(100_000 + 420_000, 31)


def test_the_termination_day_is_not_billed():
    spans = [Span(date(2026, 1, 1), None, M)]
    assert charge_for_month(spans, date(2026, 3, 1), terminated_on=date(2026, 3, 11)) == billing.Charge(100_000, 10)
    assert charge_for_month(spans, date(2026, 4, 1), terminated_on=date(2026, 3, 11)) == billing.Charge(0, 0)


@pytest.mark.parametrize("month, days", [
    (date(2026, 2, 1), 28), (date(2028, 2, 1), 29), (date(2026, 4, 1), 30), (date(2026, 5, 1), 31),
])
def test_a_day_is_a_share_of_its_own_month(month, days):
    one_day = [Span(month + timedelta(days=days - 1), None, 2_900_000)]
    assert charge_for_month(one_day, month) == billing.Charge(round(2_900_000 / days), 1)
    assert charge_for_month([Span(month, None, 2_900_000)], month).amount == 2_900_000


def test_amounts_are_rounded_half_up_once_per_month():
    # 100 won over 3 of 30 days = 10 won exactly; 1 won over 15 of 30 days = 0.5 → 1
    assert charge_for_month([Span(date(2026, 4, 28), None, 100)], date(2026, 4, 1)).amount == 10
    assert charge_for_month([Span(date(2026, 4, 16), None, 1)], date(2026, 4, 1)).amount == 1


def test_the_current_month_counts_up_to_today():
    spans = [Span(date(2026, 1, 1), None, M)]
    assert charge_for_month(spans, date(2026, 3, 1), through=date(2026, 3, 5)) == billing.Charge(50_000, 5)


def test_months_with_no_contract_cost_nothing():
    assert charge_for_month([Span(date(2026, 5, 1), None, M)], date(2026, 4, 1)) == billing.Charge(0, 0)


def test_add_months_and_month_lists():
    assert billing.add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert billing.add_months(date(2026, 11, 1), 3) == date(2027, 2, 1)
    assert billing.months_between(date(2025, 12, 15), date(2026, 2, 2)) == [
        date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]


# -- with the database: contract days follow the service's time zone ---------------------------------------

def _contracted(app, make, tz="Asia/Seoul", signed=datetime(2026, 3, 31, 16, 0, tzinfo=timezone.utc)):
    org = make.org()
    service = make.service(org, "billed")
    with app.app_context():
        s = db.session.get(Service, service.id)
        s.time_zone = tz
        sign_contract(Actor(org.id, None), s, {"base.seat": 31}, base_version=None, now=signed)  # 620,000/month
        db.session.commit()
    return org, service


def test_a_contract_signed_after_midnight_local_time_starts_that_local_day(app, make):
    # 2026-03-31 16:00 UTC is 2026-04-01 01:00 in Seoul: April is the first billed month.
    org, service = _contracted(app, make)
    with app.app_context():
        rows = billing.charges(org.id, date(2026, 3, 1), date(2026, 4, 1), now=datetime(2026, 5, 2, tzinfo=timezone.utc))
    assert [(r.month, r.amount, r.billed_days) for r in rows] == [(date(2026, 4, 1), 620_000, 30)]


def test_the_same_instant_in_new_york_is_still_march(app, make):
    org, service = _contracted(app, make, tz="America/New_York")
    with app.app_context():
        rows = billing.charges(org.id, date(2026, 3, 1), date(2026, 4, 1), now=datetime(2026, 5, 2, tzinfo=timezone.utc))
    assert [(r.month, r.billed_days) for r in rows] == [(date(2026, 3, 1), 1), (date(2026, 4, 1), 30)]


def test_suspended_days_are_billed_like_active_ones(app, make):
    org, service = _contracted(app, make)
    with app.app_context():
        s = db.session.get(Service, service.id)
        set_status(Actor(org.id, None), s, s.status.__class__("suspended"))
        db.session.commit()
        rows = billing.charges(org.id, date(2026, 4, 1), date(2026, 4, 1), now=datetime(2026, 5, 2, tzinfo=timezone.utc))
    assert rows[0].amount == 620_000


def test_closing_months_is_idempotent_and_stops_at_termination(app, make):
    org, service = _contracted(app, make)
    with app.app_context():
        s = db.session.get(Service, service.id)
        set_status(Actor(org.id, None), s, s.status.__class__("suspended"))
        terminate(Actor(org.id, None), s, confirm_key="billed", now=datetime(2026, 6, 15, 3, 0, tzinfo=timezone.utc))
        db.session.commit()
        after = datetime(2026, 9, 1, 12, 0, tzinfo=timezone.utc)
        assert billing.close_finished_months(after) == 3  # April, May, June (to the 15th)
        db.session.commit()
        assert billing.close_finished_months(after) == 0
        db.session.commit()
        closed = db.session.scalars(select(MonthlyCharge).order_by(MonthlyCharge.month)).all()
        assert [(c.month, c.amount, c.billed_days) for c in closed] == [
            (date(2026, 4, 1), 620_000, 30), (date(2026, 5, 1), 620_000, 31), (date(2026, 6, 1), 289_333, 14)]


def test_a_month_is_closed_only_after_the_first_of_the_next_month_locally(app, make):
    org, service = _contracted(app, make)
    with app.app_context():
        # 2026-04-30 14:59 UTC is 23:59 in Seoul: April is still running.
        assert billing.close_finished_months(datetime(2026, 4, 30, 14, 59, tzinfo=timezone.utc)) == 0
        assert billing.close_finished_months(datetime(2026, 4, 30, 15, 1, tzinfo=timezone.utc)) == 1


def test_the_billing_tab_shows_closed_months_as_materialized(app, make):
    org, service = _contracted(app, make)
    with app.app_context():
        billing.close_finished_months(datetime(2026, 5, 2, tzinfo=timezone.utc))
        charge = db.session.scalars(select(MonthlyCharge)).one()
        charge.amount = 1  # the materialized figure is the one shown, even if the rule were to change
        db.session.commit()
        rows = billing.charges(org.id, date(2026, 4, 1), date(2026, 5, 1), now=datetime(2026, 5, 20, tzinfo=timezone.utc))
    assert [(r.month, r.amount, r.closed, r.to_date) for r in rows] == [
        (date(2026, 4, 1), 1, True, False), (date(2026, 5, 1), 400_000, False, True)]


def test_next_close_is_the_earliest_first_of_the_month_among_time_zones():
    from datetime import time

    from portal.services.jobs import Monthly

    now = datetime(2026, 4, 20, tzinfo=timezone.utc)
    at = Monthly(at=time(0, 5), zones=lambda: ["Asia/Seoul", "America/New_York"]).next_after(now)
    assert at == datetime(2026, 4, 30, 15, 5, tzinfo=timezone.utc)


def test_the_month_closing_job_runs_on_a_real_worker_and_schedules_the_next(app, make):
    from rq import SimpleWorker

    from portal.models import JobRun, JobState
    from portal.queue import get_queue, get_redis
    from jobs.billing import close_months
    from portal.services.jobs import schedule_next, start_job

    org, service = _contracted(app, make, signed=datetime(2020, 1, 10, tzinfo=timezone.utc))
    with app.app_context():
        run = start_job(close_months, organization_id=None)
        db.session.commit()
        SimpleWorker([get_queue("scheduled")], connection=get_redis()).work(burst=True)
        db.session.expire_all()
        done = db.session.get(JobRun, run.id)
        assert done.state == JobState.succeeded and done.result["closed"] > 60
        pending = db.session.scalars(select(JobRun).filter_by(kind="billing.close_months", state=JobState.pending)).all()
        assert len(pending) == 1
        assert schedule_next(close_months.spec) == (pending[0], "kept")  # scheduling again reuses it
