"""The floor for bench/assignment_api.py: bare Flask + Flask-SQLAlchemy Core on the portal's own tables, no API key,
no validation, no idempotency, no eligibility, locks, order or trail.

POST /api/v1/services/<service id>/tickets (the simulator's request) reserves a number on the service's counter
(one UPDATE … RETURNING, as the portal does), inserts the ticket row with the same columns, and assigns it with one
Core UPDATE picking the least-loaded agent of the service (a correlated subquery over the tickets in progress);
it answers the fields the simulator reads. `gunicorn --pythonpath bench assignment_bare:app`, DATABASE_URL as
the portal's. SQLite gets the portal's pragmas (WAL, busy_timeout, synchronous=NORMAL), so only the app differs.
"""
from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone

from flask import Flask, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

url = os.environ["DATABASE_URL"]
if url.startswith("postgresql://"):
    url = "postgresql+psycopg://" + url[len("postgresql://"):]

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = url
db = SQLAlchemy(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        for pragma in ("journal_mode=WAL", "busy_timeout=5000", "synchronous=NORMAL"):
            dbapi_connection.execute("PRAGMA " + pragma)


NUMBER = text("UPDATE service SET ticket_seq = ticket_seq + 1 WHERE service_key = :key "
              "RETURNING id, organization_id, ticket_seq")
INSERT = text("INSERT INTO ticket (organization_id, service_id, number, title, body, status, priority, channel, "
              "requester_name, requester_email, requester_phone, category, external_id, created_at, updated_at) "
              "VALUES (:org, :sid, :number, :title, :body, 'unassigned', :priority, :channel, :name, :email, :phone, "
              ":category, :external_id, :now, :now) RETURNING id")
ASSIGN = text("UPDATE ticket SET status = 'in_progress', assignee_id = ("
              " SELECT sm.member_id FROM service_member sm WHERE sm.service_id = :sid AND sm.can_ticket"
              " ORDER BY (SELECT count(*) FROM ticket t WHERE t.service_id = :sid AND t.status = 'in_progress'"
              "           AND t.assignee_id = sm.member_id), sm.member_id LIMIT 1) "
              "WHERE id = :id AND status = 'unassigned' RETURNING assignee_id")


@app.post("/api/v1/services/<key>/tickets")
def create(key: str):
    body = request.get_json()
    requester = body.get("requester") or {}
    sid, org, number = db.session.execute(NUMBER, {"key": key}).one()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    ticket_id = db.session.execute(INSERT, {
        "org": org, "sid": sid, "number": number, "title": body["title"], "body": body.get("body"),
        "priority": body.get("priority", "normal"), "channel": body["channel"], "name": requester.get("name"),
        "email": requester.get("email"), "phone": requester.get("phone"), "category": body.get("category"),
        "external_id": body.get("external_id"), "now": now}).scalar_one()
    assignee = db.session.execute(ASSIGN, {"sid": sid, "id": ticket_id}).scalar_one()
    db.session.commit()
    return {"number": number, "assignee": str(assignee), "channel": body["channel"], "title": body["title"]}, 201
