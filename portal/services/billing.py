"""The charge rule, defined once.

A month's charge for a service is the sum, over the days of that month on which the service was
contracted and not terminated (active or suspended alike), of the contract in force that day divided
by the number of days in the month. Days are service-local calendar days. The sum is exact (fractions)
and rounded half up to whole won once per service and month.

Closed months are materialized (MonthlyCharge) by a scheduled job; the current month is "to date".
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Iterable, Sequence

from sqlalchemy import select

from portal.extensions import db
from portal.models import Contract, MonthlyCharge, Service, ServiceStatus, ServiceType
from portal.models.base import utcnow
from portal.services.contracts import local_today


@dataclass(frozen=True)
class Span:
    """A contract version: in force on days [start, end) (end None = open), at `monthly_total` won."""

    start: date
    end: date | None
    monthly_total: int


@dataclass(frozen=True)
class Charge:
    amount: int
    billed_days: int


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def days_in_month(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def months_between(first: date, last: date) -> list[date]:
    """Every month from `first`'s to `last`'s, inclusive, as first days."""
    months, month = [], first_of_month(first)
    while month <= first_of_month(last):
        months.append(month)
        month = next_month(month)
    return months


def _round_half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


def charge_for_month(spans: Iterable[Span], month: date, *, terminated_on: date | None = None,
                     through: date | None = None) -> Charge:
    """The charge of one service for `month`. Days from `terminated_on` on are not billed (billing stops
    on the termination day); with `through`, only days up to and including it count (the month to date)."""
    month = first_of_month(month)
    end = next_month(month)
    if terminated_on is not None:
        end = min(end, terminated_on)
    if through is not None:
        end = min(end, through + timedelta(days=1))
    dim = days_in_month(month)
    total, days = Fraction(0), 0
    for span in spans:
        lo = max(span.start, month)
        hi = min(span.end or end, end)
        if hi > lo:
            n = (hi - lo).days
            days += n
            total += Fraction(span.monthly_total * n, dim)
    return Charge(_round_half_up(total), days)


def spans_of(service_id: int) -> list[Span]:
    rows = db.session.execute(
        select(Contract.effective_from, Contract.effective_to, Contract.monthly_total)
        .where(Contract.service_id == service_id).order_by(Contract.effective_from)
    )
    return [Span(start, end, total) for start, end, total in rows]


# -- closing months -----------------------------------------------------------------------------------------

def close_month(service: Service, month: date, spans: Sequence[Span] | None = None) -> MonthlyCharge | None:
    """Materialize a finished month's charge once. Rerunning it (or two closers at once) changes nothing."""
    month = first_of_month(month)
    existing = db.session.scalars(
        select(MonthlyCharge).where(MonthlyCharge.service_id == service.id, MonthlyCharge.month == month)
    ).first()
    if existing is not None:
        return existing
    charge = charge_for_month(spans if spans is not None else spans_of(service.id), month,
                              terminated_on=service.terminated_on)
    if charge.billed_days == 0:
        return None
    # Two closers at once: unique (service, month) fails the later transaction; its retry finds the row.
    row = MonthlyCharge(organization_id=service.organization_id, service_id=service.id, month=month,
                        amount=charge.amount, billed_days=charge.billed_days)
    db.session.add(row)
    return row


def close_finished_months(now: datetime | None = None) -> int:
    """Close every finished month of every contracted service (catching up on missed runs). A month is
    finished once the 1st of the next month has begun in the service's time zone."""
    now = now or utcnow()
    closed = 0
    services = db.session.scalars(select(Service).where(Service.status != ServiceStatus.draft))
    for service in services:
        spans = spans_of(service.id)
        if not spans:
            continue
        this_month = first_of_month(local_today(service, now))
        last = this_month - timedelta(days=1)
        if service.terminated_on is not None:
            last = min(last, service.terminated_on)
        if last < spans[0].start:
            continue
        done = set(db.session.scalars(select(MonthlyCharge.month).where(MonthlyCharge.service_id == service.id)))
        for month in months_between(spans[0].start, last):
            if month not in done and close_month(service, month, spans) is not None:
                closed += 1
    db.session.flush()
    return closed


def time_zones_in_use() -> list[str]:
    """The time zones of the services: the month closing runs when a month has ended in the first of them."""
    return list(db.session.scalars(select(Service.time_zone).distinct()))


# -- the billing tab ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChargeRow:
    service_id: int
    service_key: str
    service_name: str
    service_type: ServiceType
    service_status: ServiceStatus
    month: date
    amount: int
    billed_days: int
    to_date: bool  # the current month, still running
    closed: bool  # materialized by the month-closing job


def charges(organization_id: int, first: date, last: date, *, service_type: ServiceType | None = None,
            service_id: int | None = None, now: datetime | None = None) -> list[ChargeRow]:
    """Monthly charges of the organization's services for months first..last: closed months as
    materialized, others computed by the same rule (the current month up to today)."""
    first, last = first_of_month(first), first_of_month(last)
    query = select(Service).where(Service.organization_id == organization_id, Service.status != ServiceStatus.draft)
    if service_type is not None:
        query = query.where(Service.type == service_type)
    if service_id is not None:
        query = query.where(Service.id == service_id)
    services = list(db.session.scalars(query.order_by(Service.name)))
    if not services:
        return []
    ids = [s.id for s in services]
    closed = {(c.service_id, c.month): c for c in db.session.scalars(
        select(MonthlyCharge).where(MonthlyCharge.service_id.in_(ids), MonthlyCharge.month >= first,
                                    MonthlyCharge.month <= last))}
    spans: dict[int, list[Span]] = {sid: [] for sid in ids}
    for sid, start, end, total in db.session.execute(
        select(Contract.service_id, Contract.effective_from, Contract.effective_to, Contract.monthly_total)
        .where(Contract.service_id.in_(ids)).order_by(Contract.effective_from)
    ):
        spans[sid].append(Span(start, end, total))
    rows = []
    for service in services:
        today = local_today(service, now)
        for month in months_between(first, last):
            if month > today:
                continue
            done = closed.get((service.id, month))
            if done is not None:
                rows.append(_row(service, month, done.amount, done.billed_days, False, True))
                continue
            current = month == first_of_month(today)
            charge = charge_for_month(spans[service.id], month, terminated_on=service.terminated_on,
                                      through=today if current else None)
            if charge.billed_days:
                rows.append(_row(service, month, charge.amount, charge.billed_days, current, False))
    return sorted(rows, key=lambda r: (r.month, r.service_name))


def _row(service: Service, month: date, amount: int, days: int, to_date: bool, closed: bool) -> ChargeRow:
    return ChargeRow(service.id, service.service_key, service.name, service.type, service.status, month,
                     amount, days, to_date, closed)


def totals_by_month(rows: Iterable[ChargeRow], months: Sequence[date]) -> list[tuple[date, int]]:
    totals = {m: 0 for m in months}
    for row in rows:
        totals[row.month] = totals.get(row.month, 0) + row.amount
    return sorted(totals.items())
