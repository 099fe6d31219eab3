"""The one place that makes the Redis connection and the RQ queues."""
from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue


def get_redis() -> Redis:
    conn = current_app.extensions.get("portal_redis")
    if conn is None:
        conn = Redis.from_url(current_app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)
        current_app.extensions["portal_redis"] = conn
    return conn


def get_queue(name: str = "default") -> Queue:
    if name not in current_app.config["RQ_QUEUES"]:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(), default_timeout=600)
