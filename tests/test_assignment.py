"""Automatic assignment (issue 17, SPEC 할당): who is eligible, how much each may hold, in which order tickets go
out, what makes waiting tickets go out at once, the jobs behind it, and the member's switch. Every operation
runs in a transaction of its own and commits, as a request or a job does."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from portal.extensions import db
from portal.models import (Activity, AssignMode, Member, MemberStatus, Service, ServiceMember, ServiceStatus, Ticket,
                           TicketStatus)
from portal.models.base import utcnow
from portal.services import Actor, ServiceError, agent_states, assignment, tickets

AGENTS = ("ann", "bob", "cy")


# -- helpers shared with test_assignment_concurrency.py: each is one committed unit of work ------------------

def set_state(member_id: int, service_id: int | None, state: str, channel: str = "phone") -> None:
    member = db.session.get(Member, member_id)
    service = db.session.get(Service, service_id) if service_id else None
    agent_states.change(Actor(member.organization_id, member.id), member, service, channel, state)
    db.session.commit()


def new_tickets(service_id: int, n: int = 1) -> list[int]:
    service = db.session.get(Service, service_id)
    ids = [tickets.create(Actor(service.organization_id, None), service, {"title": f"Ticket {i}"}).id
           for i in range(n)]
    db.session.commit()
    return ids


def queue_tickets(service_id: int, n: int) -> list[int]:
    """`n` waiting tickets written at once (no offer): a queue that built up while nobody could take it."""
    service = db.session.get(Service, service_id)
    first, now = tickets.reserve_numbers(service_id, n), utcnow()
    db.session.execute(insert(Ticket), [
        {"organization_id": service.organization_id, "service_id": service_id, "number": first + i,
         "title": f"Queued {i}", "status": TicketStatus.unassigned, "channel": "web",
         "created_at": now + timedelta(microseconds=i), "updated_at": now} for i in range(n)])
    db.session.commit()
    return list(db.session.scalars(select(Ticket.id).where(Ticket.service_id == service_id,
                                                           Ticket.number >= first).order_by(Ticket.number)))


def holder(ticket_id: int) -> tuple[str, int | None]:
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket_id)
    return ticket.status.value, ticket.assignee_id


def in_progress(service_id: int) -> Counter:
    db.session.expire_all()
    return Counter(dict(assignment.loads(service_id)))


def resolve(ticket_id: int, actor_id: int | None = None) -> None:
    ticket = db.session.get(Ticket, ticket_id)
    tickets.set_status(Actor(ticket.organization_id, actor_id or ticket.assignee_id), ticket, "resolved")
    db.session.commit()


def set_switch(member_id: int, on: bool, by: int | None = None, **kwargs) -> int:
    member = db.session.get(Member, member_id)
    returned = assignment.switch(Actor(member.organization_id, by or member_id), member, on, **kwargs)
    db.session.commit()
    return returned


def waiting(service_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.service_id == service_id, Ticket.status == TicketStatus.unassigned))


@pytest.fixture
def desk(make, app):
    """A service assigning automatically (round-robin, capacity 3), three agents with every permission, all
    offline, and a manager."""
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk", auto_assign=True)
    agents = {login: make.member(org, login, name=login.title()) for login in AGENTS}
    for agent in agents.values():
        make.place(service, agent)
    boss = make.member(org, "boss", name="Boss")
    make.place(service, boss, "manager")
    with app.app_context():
        db.session.get(Service, service.id).ticket_capacity = 3
        db.session.commit()
    ids = {login: m.id for login, m in agents.items()}
    return {"org": org, "service": service, "sid": service.id, "boss": boss.id, **ids}


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


# -- eligibility ---------------------------------------------------------------------------------------------

def test_a_new_ticket_goes_to_a_ready_agent(desk, ctx):
    set_state(desk["ann"], desk["sid"], "ready")
    [ticket] = new_tickets(desk["sid"])
    assert holder(ticket) == ("in_progress", desk["ann"])
    trail = db.session.scalars(select(Activity).where(Activity.subject_id == ticket,
                                                      Activity.action == "ticket.assigned")).one()
    assert trail.actor_id is None and trail.details == {"from": None, "to": desk["ann"], "auto": "round_robin"}


def test_without_the_ticket_permission_an_agent_gets_nothing(desk, ctx, make):
    db.session.execute(ServiceMember.__table__.update().where(ServiceMember.member_id == desk["ann"])
                       .values(can_ticket=False))
    db.session.commit()
    set_state(desk["ann"], desk["sid"], "ready")
    [ticket] = new_tickets(desk["sid"])
    assert holder(ticket) == ("unassigned", None)


def test_assignment_switched_off_gets_nothing(desk, ctx):
    set_state(desk["ann"], desk["sid"], "ready")
    set_switch(desk["ann"], False, note="vacation")
    [ticket] = new_tickets(desk["sid"])
    assert holder(ticket) == ("unassigned", None)


@pytest.mark.parametrize("where", ["offline", "break", "meeting", "ready elsewhere", "chat break"])
def test_an_agent_not_present_here_gets_nothing(desk, ctx, make, where):
    if where in ("break", "meeting"):
        set_state(desk["ann"], desk["sid"], where)
    elif where == "ready elsewhere":
        other = make.service(desk["org"], "other", auto_assign=True)
        make.place(other, db.session.get(Member, desk["ann"]))
        set_state(desk["ann"], other.id, "ready")
    elif where == "chat break":  # ready on the phone here, but on a break in chat: away
        set_state(desk["ann"], desk["sid"], "ready")
        set_state(desk["ann"], desk["sid"], "break", channel="chat")
    [ticket] = new_tickets(desk["sid"])
    assert holder(ticket) == ("unassigned", None)


def test_present_on_chat_only_is_present(desk, ctx):
    set_state(desk["ann"], desk["sid"], "waiting", channel="chat")
    [ticket] = new_tickets(desk["sid"])
    assert holder(ticket) == ("in_progress", desk["ann"])


def test_a_disabled_member_gets_nothing(desk, ctx):
    set_state(desk["ann"], desk["sid"], "ready")
    db.session.get(Member, desk["ann"]).status = MemberStatus.disabled
    db.session.commit()
    [ticket] = new_tickets(desk["sid"])
    assert holder(ticket) == ("unassigned", None)


# -- capacity and order --------------------------------------------------------------------------------------

def test_capacity_is_the_services_with_a_per_agent_override(desk, ctx):
    service = db.session.get(Service, desk["sid"])
    assignment.set_capacity(Actor(service.organization_id, desk["boss"]), service, "2")
    assignment.set_capacity(Actor(service.organization_id, desk["boss"]), service, "4",
                            member=db.session.get(Member, desk["bob"]))
    db.session.commit()
    queue_tickets(desk["sid"], 10)
    set_state(desk["ann"], desk["sid"], "ready")
    set_state(desk["bob"], desk["sid"], "ready")
    assert in_progress(desk["sid"]) == {desk["ann"]: 2, desk["bob"]: 4}
    assert waiting(desk["sid"]) == 4


def test_round_robin_takes_turns_and_keeps_equal_agents_within_one(desk, ctx):
    db.session.get(Service, desk["sid"]).ticket_capacity = 100
    db.session.commit()
    for login in AGENTS:
        set_state(desk[login], desk["sid"], "ready")
    made = new_tickets(desk["sid"], 6)
    assert [holder(t)[1] for t in made] == [desk["ann"], desk["bob"], desk["cy"]] * 2
    new_tickets(desk["sid"], 4)
    assert sorted(in_progress(desk["sid"]).values()) == [3, 3, 4]
    queue_tickets(desk["sid"], 50)  # a queue drained in one go spreads the same way
    jobs_drain(desk["sid"])
    loads = in_progress(desk["sid"]).values()
    assert sum(loads) == 60 and max(loads) - min(loads) <= 1


def jobs_drain(service_id: int) -> int:
    from jobs import assignment as assignment_jobs
    return assignment_jobs.drain(service_id)


def test_least_loaded_gives_to_the_agent_with_the_fewest(desk, ctx):
    service = db.session.get(Service, desk["sid"])
    assignment.set_mode(Actor(service.organization_id, desk["boss"]), service, True, "least_loaded")
    service.ticket_capacity = 10
    db.session.commit()
    boss = Actor(service.organization_id, desk["boss"])
    for who, n in (("ann", 2), ("cy", 1)):  # by hand, before anyone is ready
        for ticket_id in new_tickets(desk["sid"], n):
            tickets.assign(boss, db.session.get(Ticket, ticket_id), desk[who])
    db.session.commit()
    for login in AGENTS:
        set_state(desk[login], desk["sid"], "ready")
    [first] = new_tickets(desk["sid"])
    assert holder(first)[1] == desk["bob"]
    new_tickets(desk["sid"], 2)
    assert in_progress(desk["sid"]) == {desk["ann"]: 2, desk["bob"]: 2, desk["cy"]: 2}


def test_the_oldest_waiting_ticket_goes_first(desk, ctx):
    db.session.get(Service, desk["sid"]).ticket_capacity = 1
    db.session.commit()
    first, second, third = new_tickets(desk["sid"], 3)  # nobody present: all wait
    set_state(desk["bob"], desk["sid"], "ready")
    set_state(desk["ann"], desk["sid"], "ready")
    assert holder(first) == ("in_progress", desk["bob"])
    assert holder(second) == ("in_progress", desk["ann"])
    assert holder(third) == ("unassigned", None)


# -- what makes waiting tickets go out at once ----------------------------------------------------------------

def test_becoming_ready_takes_waiting_tickets_up_to_capacity(desk, ctx):
    made = new_tickets(desk["sid"], 5)
    assert waiting(desk["sid"]) == 5
    set_state(desk["ann"], desk["sid"], "break")
    assert waiting(desk["sid"]) == 5
    set_state(desk["ann"], desk["sid"], "ready")
    assert [holder(t)[1] for t in made] == [desk["ann"]] * 3 + [None] * 2


def test_switching_back_on_takes_waiting_tickets(desk, ctx):
    set_state(desk["ann"], desk["sid"], "ready")
    set_switch(desk["ann"], False)
    [ticket] = new_tickets(desk["sid"])
    assert holder(ticket) == ("unassigned", None)
    set_switch(desk["ann"], True)
    assert holder(ticket) == ("in_progress", desk["ann"])


def test_resolving_frees_capacity_and_takes_the_next(desk, ctx):
    set_state(desk["ann"], desk["sid"], "ready")
    made = new_tickets(desk["sid"], 4)
    assert holder(made[3]) == ("unassigned", None)
    resolve(made[0])
    assert holder(made[0]) == ("resolved", desk["ann"])
    assert holder(made[3]) == ("in_progress", desk["ann"])


def test_a_ticket_returned_to_the_queue_goes_to_someone_else(desk, ctx):
    set_state(desk["ann"], desk["sid"], "ready")
    [ticket] = new_tickets(desk["sid"])
    set_state(desk["bob"], desk["sid"], "ready")
    tickets.return_to_queue(Actor(desk["org"].id, desk["boss"]), db.session.get(Ticket, ticket))
    db.session.commit()
    assert holder(ticket) == ("in_progress", desk["bob"])
    tickets.return_to_queue(Actor(desk["org"].id, desk["boss"]), db.session.get(Ticket, ticket))
    db.session.commit()
    assert holder(ticket) == ("in_progress", desk["ann"])  # never straight back to the one who returned it
    set_state(desk["bob"], desk["sid"], "break")
    tickets.return_to_queue(Actor(desk["org"].id, desk["boss"]), db.session.get(Ticket, ticket))
    db.session.commit()
    assert holder(ticket) == ("unassigned", None)  # bob is away: it waits


def test_a_manager_may_assign_over_capacity_and_automatic_assignment_then_passes_the_agent_by(desk, ctx):
    db.session.get(Service, desk["sid"]).ticket_capacity = 1
    db.session.commit()
    set_state(desk["ann"], desk["sid"], "ready")
    [auto] = new_tickets(desk["sid"])
    assert holder(auto) == ("in_progress", desk["ann"])
    set_state(desk["ann"], desk["sid"], "ready")
    [by_hand] = new_tickets(desk["sid"])  # waits: ann is full
    tickets.assign(Actor(desk["org"].id, desk["boss"]), db.session.get(Ticket, by_hand), desk["ann"])
    db.session.commit()
    assert in_progress(desk["sid"]) == {desk["ann"]: 2}
    set_state(desk["bob"], desk["sid"], "ready")
    after = new_tickets(desk["sid"], 2)
    assert [holder(t) for t in after] == [("in_progress", desk["bob"]), ("unassigned", None)]
    resolve(auto)  # ann is at 1 of 1 now: still no room
    assert holder(after[1]) == ("unassigned", None)
    resolve(by_hand)
    assert holder(after[1]) == ("in_progress", desk["ann"])


@pytest.mark.parametrize("how", ["auto off", "suspended", "terminated"])
def test_a_service_not_assigning_or_not_active_assigns_nothing(desk, ctx, how):
    set_state(desk["ann"], desk["sid"], "ready")
    queue_tickets(desk["sid"], 2)
    service = db.session.get(Service, desk["sid"])
    if how == "auto off":
        assignment.set_mode(Actor(service.organization_id, desk["boss"]), service, False, "round_robin")
    else:
        service.status = ServiceStatus(how)
    db.session.commit()
    assert assignment.assign_waiting(desk["sid"]) == {}
    set_state(desk["bob"], desk["sid"], "ready")
    assert jobs_drain(desk["sid"]) == 0
    assert waiting(desk["sid"]) == 2


def test_turning_automatic_assignment_on_drains_the_queue(desk, ctx):
    service = db.session.get(Service, desk["sid"])
    service.auto_assign = False
    db.session.commit()
    set_state(desk["ann"], desk["sid"], "ready")
    queue_tickets(desk["sid"], 2)
    assignment.set_mode(Actor(service.organization_id, desk["boss"]), service, True, "round_robin")
    db.session.commit()
    jobs_drain(desk["sid"])  # what the enqueued job does
    assert in_progress(desk["sid"]) == {desk["ann"]: 2}


# -- the jobs -------------------------------------------------------------------------------------------------

def test_the_drain_job_empties_a_big_queue_in_committed_chunks(desk, ctx, monkeypatch):
    db.session.get(Service, desk["sid"]).ticket_capacity = 999
    db.session.commit()
    for login in AGENTS:
        set_state(desk[login], desk["sid"], "ready")
    queue_tickets(desk["sid"], 2 * assignment.DRAIN_CHUNK + 500)
    chunks, real = [], assignment.drain
    monkeypatch.setattr(assignment, "drain", lambda sid: chunks.append(real(sid)) or chunks[-1])
    assert jobs_drain(desk["sid"]) == 2 * assignment.DRAIN_CHUNK + 500
    assert chunks == [assignment.DRAIN_CHUNK, assignment.DRAIN_CHUNK, 500, 0]
    loads = in_progress(desk["sid"]).values()
    assert sum(loads) == 2500 and max(loads) - min(loads) <= 1
    assert waiting(desk["sid"]) == 0


def test_the_minute_sweep_switches_members_back_on_when_their_time_has_passed_and_drains(desk, ctx, monkeypatch):
    from jobs import assignment as assignment_jobs
    set_state(desk["ann"], desk["sid"], "ready")
    now = utcnow()
    set_switch(desk["ann"], False, until=now + timedelta(hours=8), note="dentist")
    made = new_tickets(desk["sid"], 2)
    assert waiting(desk["sid"]) == 2
    monkeypatch.setattr(assignment, "utcnow", lambda: now + timedelta(hours=7, minutes=59))
    assert assignment_jobs.sweep()["switched_on"] == []
    assert waiting(desk["sid"]) == 2
    monkeypatch.setattr(assignment, "utcnow", lambda: now + timedelta(hours=8, minutes=1))
    assert assignment_jobs.sweep()["switched_on"] == [desk["ann"]]
    assert [holder(t) for t in made] == [("in_progress", desk["ann"])] * 2
    ann = db.session.get(Member, desk["ann"])
    assert ann.assignment_on and ann.assignment_off_until is None
    trail = db.session.scalars(select(Activity).where(Activity.action == "member.assignment")
                               .order_by(Activity.id.desc())).first()
    assert trail.actor_id is None and trail.details["code"] == "until_passed"


def test_the_sweep_drains_what_a_lost_job_left_waiting(desk, ctx):
    from jobs import assignment as assignment_jobs
    set_state(desk["ann"], desk["sid"], "ready")
    queue_tickets(desk["sid"], 2)
    assert assignment_jobs.sweep()["drained"] == {desk["sid"]: 2}
    assert in_progress(desk["sid"]) == {desk["ann"]: 2}


# -- the switch -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, code", [
    ({"until": -1}, "until_past"),
    ({"until": 367 * 24}, "until_too_far"),
    ({"note": "x" * (assignment.NOTE_MAX + 1)}, "note_too_long"),
])
def test_switch_refuses_bad_values_and_changes_nothing(desk, ctx, kwargs, code):
    if "until" in kwargs:
        kwargs = {"until": utcnow() + timedelta(hours=kwargs["until"])}
    with pytest.raises(ServiceError) as refused:
        set_switch(desk["ann"], False, **kwargs)
    assert refused.value.code == code
    db.session.rollback()
    assert db.session.get(Member, desk["ann"]).assignment_on is True


def test_switch_refuses_a_disabled_member(desk, ctx):
    db.session.get(Member, desk["ann"]).status = MemberStatus.disabled
    db.session.commit()
    with pytest.raises(ServiceError) as refused:
        set_switch(desk["ann"], False, by=desk["boss"], note="left")
    assert refused.value.code == "member_disabled"


def test_someone_else_must_give_a_reason_and_is_recorded(desk, ctx):
    with pytest.raises(ServiceError) as refused:
        set_switch(desk["ann"], False, by=desk["boss"])
    assert refused.value.code == "reason_required"
    db.session.rollback()
    set_switch(desk["ann"], False, by=desk["boss"], note="  sick\tleave ")
    shown = assignment.switch_of(db.session.get(Member, desk["ann"]))
    assert (shown.on, shown.note, shown.by_name) == (False, "sick leave", "Boss")
    trail = db.session.scalars(select(Activity).where(Activity.action == "member.assignment")).one()
    assert trail.actor_id == desk["boss"] and trail.details["reason"] == "sick leave"
    assert trail.details["before"]["on"] is True and trail.details["after"]["on"] is False


def test_switching_off_with_return_gives_back_only_tickets_in_progress(desk, ctx):
    set_state(desk["ann"], desk["sid"], "ready")
    done, open_one = new_tickets(desk["sid"], 2)
    resolve(done)
    set_state(desk["bob"], desk["sid"], "ready")
    assert set_switch(desk["ann"], False, return_tickets=True) == 1
    assert holder(done) == ("resolved", desk["ann"])
    assert holder(open_one) == ("in_progress", desk["bob"])  # offered to the others at once
    returned = db.session.scalars(select(Activity).where(Activity.action == "ticket.returned")).one()
    assert returned.subject_id == open_one and returned.details == {"from": desk["ann"], "to": None}


def test_switching_off_without_return_keeps_the_tickets(desk, ctx):
    set_state(desk["ann"], desk["sid"], "ready")
    [ticket] = new_tickets(desk["sid"])
    assert set_switch(desk["ann"], False) == 0
    assert holder(ticket) == ("in_progress", desk["ann"])


def test_a_call_ticket_without_an_agent_on_the_call_is_offered_like_any_other(desk, ctx):
    """A call's ticket goes to the agent on the call; one opened for a call no agent is on waits in the queue, and
    the service's automatic assignment offers it at once."""
    from portal.models import Call
    from portal.services import cti_events

    set_state(desk["bob"], desk["sid"], "ready")
    service = db.session.get(Service, desk["sid"])
    for call_id, member_id in (("c-1", desk["ann"]), ("c-2", None)):
        call = Call(organization_id=service.organization_id, service_id=service.id, call_id=call_id, direction="IB",
                    member_id=member_id, counterpart="0101", started_at=utcnow())
        db.session.add(call)
        db.session.flush()
        cti_events.ingest(service, {"kind": "answered", "event_id": f"answered-{call_id}", "call_id": call_id,
                                    "direction": "IB", "occurred_at": utcnow().isoformat()})
    db.session.commit()
    owners = dict(db.session.execute(select(Ticket.call_id, Ticket.assignee_id)).all())
    assert owners == {"c-1": desk["ann"], "c-2": desk["bob"]}
