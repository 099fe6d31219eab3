"""A migration's "assign unassigned tickets automatically after the apply" (issue 17): offered where the service
assigns automatically; ticked, the applied tickets go to the agents at work by the drain job; not ticked, they
wait for a person, whatever drains the queue (the drain job, the minute sweep, an agent becoming present)."""
import pytest
from sqlalchemy import func, select

from jobs.assignment import drain, sweep
from jobs.migration import apply_now, check_now
from portal.extensions import db
from portal.models import BatchStatus, Member, MigrationBatch, Service, Ticket, TicketStatus
from portal.queue import get_queue
from portal.services import Actor, agent_states, migration
from portal.services.migration_files import template_workbook
from portal.services.ticket_fields import fields_of
from tests.conftest import csrf_token
from tests.migration_files import fill

ROWS = 6


@pytest.fixture
def desk(make, app):
    org = make.org(domain="acme")
    service = make.service(org, "desk", name="Desk", auto_assign=True)
    agents = [make.member(org, f"agt{i}") for i in (1, 2)]
    for agent in agents:
        make.place(service, agent)
    return {"org": org, "service": service, "agents": agents, "admin": make.admin_of(org)}


def checked_batch(app, desk) -> int:
    """A file of ROWS tickets without assignee, uploaded and checked (ready to confirm)."""
    rows = [[f"Old ticket {i}", None, None, None, None, f"Customer {i}", None, None, None, None, None, f"OLD-{i}",
             None, None] for i in range(ROWS)]
    with app.app_context():
        service = db.session.get(Service, desk["service"].id)
        data = fill(template_workbook(service, fields_of(service), "en"), rows)
        batch = migration.upload(Actor(desk["org"].id, None), service, "old.xlsx", data)
        db.session.commit()
        assert check_now(batch.id).status == BatchStatus.ready
        db.session.commit()
        return batch.id


def confirm(client, batch_id: int, assign: bool):
    form = {"csrf_token": csrf_token(client, f"/admin/migrations/{batch_id}"), "understood": "on"}
    if assign:
        form["assign_after_apply"] = "on"
    response = client.post(f"/admin/migrations/{batch_id}/confirm", data=form, headers={"Accept-Language": "en"})
    assert response.status_code == 303


def at_work(app, desk):
    with app.app_context():
        service = db.session.get(Service, desk["service"].id)
        for agent in desk["agents"]:
            member = db.session.get(Member, agent.id)
            agent_states.change(Actor(desk["org"].id, member.id), member, service, "phone", "ready")
        db.session.commit()


def statuses(app) -> dict:
    with app.app_context():
        return dict(db.session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all())


def drain_queued(app, desk) -> bool:
    with app.app_context():
        return get_queue("default").fetch_job(f"assign-drain-{desk['service'].id}") is not None


def test_ticked_the_applied_tickets_are_assigned_by_the_drain_job(app, desk, login_as):
    batch_id = checked_batch(app, desk)
    admin = login_as(desk["admin"])
    page = admin.get(f"/admin/migrations/{batch_id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Assign unassigned tickets automatically after the apply" in page
    confirm(admin, batch_id, assign=True)
    reserved = admin.get(f"/admin/migrations/{batch_id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "will be assigned automatically after the apply" in reserved
    with app.app_context():
        assert apply_now(batch_id, force=True).status == BatchStatus.completed
        db.session.commit()
    assert statuses(app) == {TicketStatus.unassigned: ROWS}  # nobody at work yet
    assert drain_queued(app, desk)
    at_work(app, desk)  # agents coming to work take them
    assert statuses(app) == {TicketStatus.in_progress: ROWS}


def test_ticked_and_agents_already_at_work_the_drain_job_assigns_them(app, desk, login_as):
    at_work(app, desk)
    batch_id = checked_batch(app, desk)
    confirm(login_as(desk["admin"]), batch_id, assign=True)
    with app.app_context():
        apply_now(batch_id, force=True)
        db.session.commit()
    assert statuses(app) == {TicketStatus.unassigned: ROWS} and drain_queued(app, desk)
    with app.app_context():
        assert drain(desk["service"].id) == ROWS  # the job the apply enqueued, run here
    assert statuses(app) == {TicketStatus.in_progress: ROWS}
    with app.app_context():
        loads = dict(db.session.execute(select(Ticket.assignee_id, func.count()).group_by(Ticket.assignee_id)).all())
    assert sorted(loads.values()) == [ROWS // 2, ROWS // 2]  # round-robin


def test_not_ticked_they_wait_for_a_person_whatever_drains_the_queue(app, desk, login_as):
    at_work(app, desk)
    batch_id = checked_batch(app, desk)
    confirm(login_as(desk["admin"]), batch_id, assign=False)
    with app.app_context():
        apply_now(batch_id, force=True)
        db.session.commit()
        assert not db.session.get(MigrationBatch, batch_id).assign_after_apply
    assert not drain_queued(app, desk)
    with app.app_context():
        assert drain(desk["service"].id) == 0
        sweep()
    with app.app_context():  # an agent coming back does not take them either
        member = db.session.get(Member, desk["agents"][0].id)
        service = db.session.get(Service, desk["service"].id)
        agent_states.change(Actor(desk["org"].id, member.id), member, service, "phone", "break")
        agent_states.change(Actor(desk["org"].id, member.id), member, service, "phone", "ready")
        db.session.commit()
    assert statuses(app) == {TicketStatus.unassigned: ROWS}


def test_the_box_is_offered_only_where_the_service_assigns_automatically(app, desk, login_as):
    with app.app_context():
        db.session.get(Service, desk["service"].id).auto_assign = False
        db.session.commit()
    batch_id = checked_batch(app, desk)
    admin = login_as(desk["admin"])
    page = admin.get(f"/admin/migrations/{batch_id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'name="understood"' in page and "assign_after_apply" not in page
    confirm(admin, batch_id, assign=True)  # sent anyway (an old page): not stored
    with app.app_context():
        assert not db.session.get(MigrationBatch, batch_id).assign_after_apply
