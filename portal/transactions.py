"""One transaction per request. Views and services only flush; the request commits once, after its view and
before its answer is sent (a redirect's next page sees the change), when it answers below 400, and rolls back
otherwise: an error, a refusal shown with 4xx/422 (htmx or not), an exception. A service that must survive a
constraint race runs that part in a savepoint (`db.session.begin_nested()`)."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Callable, Iterator

from flask import Flask, g
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from portal.extensions import db


def after_commit(callback: Callable[[], object]) -> None:
    """Run `callback` once this request's changes are committed (never if they are rolled back): mail that
    announces a change must not go out for one that did not happen."""
    g.setdefault("_after_commit", []).append(callback)


@contextmanager
def savepoint() -> Iterator[None]:
    """A savepoint of the request's transaction: if the block raises, what it wrote and the after_commit work it
    asked for are undone, and only those."""
    pending = g.setdefault("_after_commit", [])
    mark = len(pending)
    try:
        with db.session.begin_nested():
            yield
    except BaseException:
        del pending[mark:]
        raise


# PostgreSQL's serialization_failure and deadlock_detected: the transaction lost to another and may be re-run.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def lost_to_another(exc: BaseException) -> bool:
    """True for a deadlock or serialization failure (psycopg's DeadlockDetected, SerializationFailure, as
    SQLAlchemy wraps them): rolling back and running the same work again can succeed."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def _finish(response):
    callbacks = g.pop("_after_commit", [])
    if response.status_code >= 400:
        db.session.rollback()
        return response
    db.session.commit()
    for callback in callbacks:
        callback()
    return response


def register(app: Flask) -> None:
    """Register before any hook that writes: Flask runs after-request hooks last-registered first, so this one
    commits after them."""
    app.after_request(_finish)


@event.listens_for(Engine, "savepoint")
def _sqlite_begin_before_savepoint(conn, _name) -> None:
    """sqlite3's legacy transaction mode sends BEGIN only before a write, so a SAVEPOINT as the first write would
    open the transaction itself and its RELEASE commit it, outside the request's transaction: begin first.
    IMMEDIATE: a savepoint wraps a change, and a deferred transaction that read before writing fails at once
    (no busy wait) when another writer committed in between."""
    dbapi_connection = conn.connection.dbapi_connection
    if isinstance(dbapi_connection, sqlite3.Connection) and not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN IMMEDIATE")
