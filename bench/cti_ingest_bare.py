"""The baseline for bench/cti_ingest.sh: bare Flask + Flask-SQLAlchemy that stores CTI events and nothing else.

POST /api/v1/cti/events takes the portal's body ({"service": …, "events": [{…}, …]}) and answers the portal's
shape ({"results": [{"event_id": …, "status": "stored"}, …]}), so `portal.services.cti_simulator.send` (and
`flask cti simulate --url …`) drive it unchanged. Each event is one INSERT into a table of its own
(`bench_cti_event`, unique per event ID like `cti_event`) and one commit, as the portal commits each event on its
own. No API key check, no service lookup, no agent states, calls or tickets.
`python bench/cti_ingest_bare.py` creates the table (run it once before gunicorn, so the two workers don't race
to create it); `gunicorn --pythonpath bench cti_ingest_bare:app`. SQLite gets the portal's pragmas.
"""
from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone

from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, String, UniqueConstraint, event, insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

url = os.environ["DATABASE_URL"]
if url.startswith("postgresql://"):
    url = "postgresql+psycopg://" + url[len("postgresql://"):]

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = url
db = SQLAlchemy(app)


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
        for pragma in ("journal_mode=WAL", "busy_timeout=5000", "synchronous=NORMAL"):
            dbapi_connection.execute("PRAGMA " + pragma)


@app.post("/api/v1/cti/events")
def events():
    results = []
    for raw in request.get_json()["events"]:
        occurred = datetime.fromisoformat(raw["occurred_at"]).astimezone(timezone.utc).replace(tzinfo=None)
        db.session.execute(insert(BenchCtiEvent).values(
            external_id=raw["event_id"], kind=raw["kind"], occurred_at=occurred, cti_id=raw.get("cti_id"),
            call_id=raw.get("call_id")))
        db.session.commit()
        results.append({"event_id": raw["event_id"], "status": "stored"})
    return jsonify({"results": results})


if __name__ == "__main__":
    with app.app_context():
        db.create_all()
