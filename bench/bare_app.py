"""The baseline for bench/toggle.sh: bare Flask + Flask-SQLAlchemy, no login, no CSRF, no templates.

POST /flip flips one boolean in a table of its own (`bench_flag`) in the database named by DATABASE_URL
and answers a tiny HTML fragment. `python bench/bare_app.py` creates the table and its row (run it once
before gunicorn, so the two workers don't race to create it); `gunicorn --pythonpath bench bare_app:app`.
SQLite gets the same pragmas as the portal (WAL, busy_timeout, synchronous=NORMAL) so only the app differs.
"""
from __future__ import annotations

import os
import sqlite3

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Boolean, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

url = os.environ["DATABASE_URL"]
if url.startswith("postgresql://"):
    url = "postgresql+psycopg://" + url[len("postgresql://"):]

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = url
db = SQLAlchemy(app)


class Flag(db.Model):
    __tablename__ = "bench_flag"
    id: Mapped[int] = mapped_column(primary_key=True)
    on: Mapped[bool] = mapped_column(Boolean, default=False)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        for pragma in ("journal_mode=WAL", "busy_timeout=5000", "synchronous=NORMAL"):
            dbapi_connection.execute("PRAGMA " + pragma)


@app.post("/flip")
def flip():
    flag = db.session.get(Flag, 1)
    flag.on = not flag.on
    db.session.commit()
    return f'<span id="flag">{"on" if flag.on else "off"}</span>'


if __name__ == "__main__":
    with app.app_context():
        db.create_all()
        if db.session.get(Flag, 1) is None:
            db.session.add(Flag(id=1, on=False))
            db.session.commit()
