"""Every path of a call ends in the right phone state (issue 16, item 1), through the ingest as the switch
sends it: the state store, the widget, the top bar, the supervisor board and the intervals My performance
adds up all agree. An agent on a call leaves the call state when the call ends, however it ends: ticket work
(after-call bulk state on) or ticket work while the widget asks what next (off); an inbound call that never
reached the agent leaves them where they were."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AgentStateInterval, Call, Service
from portal.services import Actor, agent_states, cti_events
from portal.services import cti as cti_settings
from tests.test_softphone import EN, desk  # noqa: F401 - the fixture

T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=30)

# (events after the log-in at T0: kind, seconds after T0, direction), the outcome, the state after it with the
# bulk state on / off, and whether the widget then asks what next (off).
PATHS = {
    "inbound answered": ([("inbound_ringing", 10, "IB"), ("answered", 15, "IB"), ("hangup", 75, "IB")],
                         "answered", "ticket_work", True),
    "inbound abandoned": ([("inbound_ringing", 10, "IB"), ("hangup", 25, "IB")], "abandoned", "ready", False),
    "inbound failed": ([("inbound_ringing", 10, "IB"), ("error", 12, "IB")], "failed", "ready", False),
    "inbound transferred": ([("inbound_ringing", 10, "IB"), ("answered", 15, "IB"), ("transfer", 40, "IB"),
                             ("hangup", 50, "IB")], "answered", "ticket_work", True),
    "outbound answered": ([("outbound_dial", 10, "OB"), ("connected", 20, "OB"), ("hangup", 80, "OB")],
                          "answered", "ticket_work", True),
    "outbound unanswered": ([("outbound_dial", 10, "OB"), ("hangup", 40, "OB")], "no_answer", "ticket_work", True),
    "outbound failed": ([("outbound_dial", 10, "OB"), ("error", 13, "OB")], "failed", "ticket_work", True),
}


def stream(key_events):
    events = [{"kind": "agent_login", "event_id": "login", "cti_id": "ann01", "occurred_at": T0.isoformat()}]
    for n, (kind, seconds, direction) in enumerate(key_events):
        events.append({"kind": kind, "event_id": f"e{n}", "cti_id": "ann01", "call_id": "call-1",
                       "direction": direction, "counterpart": "0101234",
                       "occurred_at": (T0 + timedelta(seconds=seconds)).isoformat()})
    return events


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk on", "bulk off"])
@pytest.mark.parametrize("path", PATHS)
def test_every_call_path_ends_in_the_right_state_everywhere(desk, app, path, bulk):  # noqa: F811
    events, outcome, state_after, asks = PATHS[path]
    with app.app_context():
        service = db.session.get(Service, desk["service"].id)
        cti_settings.set_toggle(Actor(desk["org"].id, None), service, "after_call_bulk", bulk)
        cti_settings.set_toggle(Actor(desk["org"].id, None), service, "outbound_auto_ticket", True)
        for raw in stream(events):
            assert cti_events.ingest(service, raw).event.error_code is None, raw
        db.session.commit()
    ann = desk["ann"].id
    hangup_at = T0 + timedelta(seconds=events[-1][1])
    with app.app_context():
        call = db.session.scalars(select(Call)).one()
        assert (call.outcome, call.ended_at) == (outcome, hangup_at)
        assert agent_states.state_of(ann, "phone") == state_after
        rows = db.session.execute(select(AgentStateInterval.state, AgentStateInterval.started_at,
                                         AgentStateInterval.ended_at)
                                  .where(AgentStateInterval.member_id == ann)
                                  .order_by(AgentStateInterval.started_at)).all()
        # No call state is open, and the call state's time stops when the call ends (My performance's time).
        assert all(r.ended_at is not None for r in rows if r.state in agent_states.CALL_STATES)
        assert max((r.ended_at for r in rows if r.state in agent_states.CALL_STATES), default=hangup_at) == hangup_at
        board = {row.member_id: row for row in agent_states.board(db.session.get(Service, desk["service"].id))}
        assert board[ann].phone.state == state_after
    widget = desk["client"].get("/agent/phone", headers={"HX-Request": "true", **EN}).get_data(as_text=True)
    assert ("What next?" in widget) == (asks and not bulk)
    page = desk["client"].get("/me/settings", headers=EN).get_data(as_text=True)
    label = {"ticket_work": "Ticket work", "ready": "Ready"}[state_after]
    assert f'aria-label="Phone state: {label}"' in page
    assert "On outbound call" not in page and "On inbound call" not in page
