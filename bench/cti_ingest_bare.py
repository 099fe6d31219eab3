"""The floors for bench/cti_ingest.sh: bare Flask + Flask-SQLAlchemy, no portal code, two endpoints.

Both take the portal's body ({"service": …, "events": [{…}, …]}) and answer the portal's shape ({"results":
[{"event_id": …, "status": "stored"}, …]}), so `portal.services.cti_simulator.send` (and `flask cti simulate --url
…`) drive them unchanged.

- **same rows** (`POST /api/v1/cti/events`): writes the rows the portal writes for the simulator's events, into the
  portal's own tables (same columns, indexes, constraints, foreign keys), with plain Core statements and one
  transaction per request, as the portal does. Its rows go to another service of the same organization and to
  members of their own (`BARE_CONFIG`, a JSON file the script writes: organization_id, service_id and
  {cti_id: member_id}), so the two apps never share a call, an event ID or an agent's intervals. Per request:
  one executemany of the events; one SELECT of the batch's agents' open phone intervals and one of the calls it
  names; then, per event in order, the statements that event needs — a state change closes the open interval
  (UPDATE) and opens the next (INSERT); the first event of a call INSERTs it, the others UPDATE it; an answered
  call reserves a ticket number (UPDATE service … RETURNING), INSERTs the ticket and links it to the call; a
  hang-up of a call in progress moves the agent to after-call ticket work — and one UPDATE of each agent's last
  event time. It trusts the stream: no key, no validation, no late-event rule, no locks, no duplicate check (the
  simulator never repeats an event), no after-call limit, no automatic assignment.
- **insert only** (`POST /insert/api/v1/cti/events`): the earlier floor. Per event one Core INSERT into a table
  of its own (`bench_cti_event`, unique per event ID) and one commit.

`python bench/cti_ingest_bare.py` creates the insert-only table (run it once before gunicorn, so the two workers
don't race to create it); `gunicorn --pythonpath bench cti_ingest_bare:app`. SQLite gets the portal's pragmas.
"""
from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, String, Table, UniqueConstraint, bindparam, event, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

url = os.environ["DATABASE_URL"]
if url.startswith("postgresql://"):
    url = "postgresql+psycopg://" + url[len("postgresql://"):]

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = url
db = SQLAlchemy(app)
CALL_STATES = ("inbound_call", "outbound_call", "transfer")


class BenchCtiEvent(db.Model):
    __tablename__ = "bench_cti_event"
    __table_args__ = (UniqueConstraint("external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    cti_id: Mapped[str | None] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(String(64))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        for pragma in ("journal_mode=WAL", "busy_timeout=5000", "synchronous=NORMAL", "foreign_keys=ON"):
            dbapi_connection.execute("PRAGMA " + pragma)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc).replace(tzinfo=None)


@app.post("/insert/api/v1/cti/events")
def insert_only():
    results = []
    for raw in request.get_json()["events"]:
        db.session.execute(insert(BenchCtiEvent).values(
            external_id=raw["event_id"], kind=raw["kind"], occurred_at=_utc(raw["occurred_at"]),
            cti_id=raw.get("cti_id"), call_id=raw.get("call_id")))
        db.session.commit()
        results.append({"event_id": raw["event_id"], "status": "stored"})
    return jsonify({"results": results})


_tables: dict[str, Table] = {}
_config: dict = {}


def _portal_tables() -> dict[str, Table]:
    if not _tables:
        meta = MetaData()
        for name in ("cti_event", "agent_state_interval", "call", "ticket", "member", "service"):
            _tables[name] = Table(name, meta, autoload_with=db.engine)
        with open(os.environ["BARE_CONFIG"]) as f:
            _config.update(json.load(f))
    return _tables


@app.post("/api/v1/cti/events")
def same_rows():
    t = _portal_tables()
    ev, si, call_t, ticket_t = t["cti_event"], t["agent_state_interval"], t["call"], t["ticket"]
    org, service, agents = _config["organization_id"], _config["service_id"], _config["agents"]
    zone, now = ZoneInfo("Asia/Seoul"), datetime.now(timezone.utc).replace(tzinfo=None)
    raws = request.get_json()["events"]
    session = db.session
    rows = []
    for raw in raws:
        at = _utc(raw["occurred_at"])
        rows.append({"organization_id": org, "service_id": service, "external_id": raw["event_id"],
                     "kind": raw["kind"], "occurred_at": at, "received_at": now,
                     "local_day": at.replace(tzinfo=timezone.utc).astimezone(zone).date(), "logged": True,
                     "cti_id": raw.get("cti_id"), "member_id": agents.get(raw.get("cti_id")),
                     "call_id": raw.get("call_id"), "direction": raw.get("direction"),
                     "counterpart": raw.get("counterpart"),
                     "detail": {**raw.get("detail", {}), **({"state": raw["state"]} if "state" in raw else {})} or None})
    session.execute(insert(ev), rows)
    members = {r["member_id"] for r in rows if r["member_id"]}
    open_state = {m: (i, s, started) for i, m, s, started in session.execute(
        select(si.c.id, si.c.member_id, si.c.state, si.c.started_at).where(
            si.c.member_id.in_(members), si.c.channel == "phone", si.c.ended_at.is_(None)))}
    call_ids = {r["call_id"] for r in rows if r["call_id"]}
    calls = {c.call_id: dict(c._mapping) for c in session.execute(
        select(call_t.c.id, call_t.c.call_id, call_t.c.direction, call_t.c.answered_at, call_t.c.ended_at,
               call_t.c.ticket_id).where(call_t.c.service_id == service, call_t.c.call_id.in_(call_ids)))}
    last_event = {}

    def state(member: int, to: str, at: datetime, reason: str | None = None) -> None:
        current = open_state.get(member)
        if current is not None and current[1] == to:
            return
        if current is not None:
            session.execute(update(si).where(si.c.id == current[0]).values(ended_at=at))
        if to == "offline":
            open_state.pop(member, None)
            return
        new_id = session.execute(insert(si).values(
            organization_id=org, member_id=member, service_id=service, channel="phone", state=to, started_at=at,
            reason=reason).returning(si.c.id)).scalar_one()
        open_state[member] = (new_id, to, at)

    def ticket(call: dict, member: int | None, at: datetime) -> None:
        if call["ticket_id"]:
            return
        number = session.execute(update(t["service"]).where(t["service"].c.id == service)
                                 .values(ticket_seq=t["service"].c.ticket_seq + 1)
                                 .returning(t["service"].c.ticket_seq)).scalar_one()
        call["ticket_id"] = session.execute(insert(ticket_t).values(
            organization_id=org, service_id=service, number=number, title=f"Call from {call['call_id'][-8:]}",
            status="in_progress" if member else "unassigned", priority="normal",
            channel="phone_ib" if call["direction"] == "IB" else "phone_ob", assignee_id=member,
            call_id=call["call_id"], created_at=at, updated_at=at).returning(ticket_t.c.id)).scalar_one()
        session.execute(update(call_t).where(call_t.c.id == call["id"]).values(ticket_id=call["ticket_id"]))

    for row in rows:
        kind, member, at, call_id = row["kind"], row["member_id"], row["occurred_at"], row["call_id"]
        last_event[member] = at
        if kind == "agent_login":
            state(member, "ready", at)
        elif kind == "agent_logout":
            state(member, "offline", at)
        elif kind == "state_change":
            state(member, row["detail"]["state"], at)
        elif kind in ("inbound_ringing", "outbound_dial"):
            direction = "IB" if kind == "inbound_ringing" else "OB"
            calls[call_id] = {"call_id": call_id, "direction": direction, "answered_at": None, "ticket_id": None,
                              "id": session.execute(insert(call_t).values(
                                  organization_id=org, service_id=service, call_id=call_id, direction=direction,
                                  member_id=member, counterpart=row["counterpart"], started_at=at)
                                  .returning(call_t.c.id)).scalar_one()}
            if kind == "outbound_dial":
                state(member, "outbound_call", at)
        elif kind in ("answered", "connected"):
            call = calls[call_id]
            call["answered_at"] = at
            session.execute(update(call_t).where(call_t.c.id == call["id"]).values(answered_at=at))
            state(member, "inbound_call" if call["direction"] == "IB" else "outbound_call", at)
            ticket(call, member, at)
        elif kind == "transfer":
            state(member, "transfer", at)
        elif kind == "hangup":
            call = calls[call_id]
            answered = call["answered_at"]
            session.execute(update(call_t).where(call_t.c.id == call["id"]).values(
                ended_at=at, talk_seconds=int((at - answered).total_seconds()) if answered else 0,
                outcome="answered" if answered else ("abandoned" if call["direction"] == "IB" else "no_answer")))
            if member in open_state and open_state[member][1] in CALL_STATES:
                state(member, "ticket_work", at, reason="after-call")
    member_t = t["member"]
    session.execute(update(member_t).where(member_t.c.id == bindparam("mid")).values(last_cti_event_at=bindparam("at")),
                    [{"mid": m, "at": at} for m, at in last_event.items() if m])
    session.commit()
    return jsonify({"results": [{"event_id": r["external_id"], "status": "stored"} for r in rows]})


if __name__ == "__main__":
    with app.app_context():
        db.create_all()
