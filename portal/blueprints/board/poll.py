"""The board's poll sends only what changed (issue 18). Every row has a version: a hash of everything the row
shows except its timers' text (the browser ticks those from `data-since`). The board's version, its ETag, hashes
the rows' versions in order with what else shapes the rows (service, language, zone, filters). A poll carries the
version the browser shows (If-None-Match): the same one is answered 304; another one known here gets only the rows
whose version changed (out of band, by row id) and the removal of rows gone; anything else (an unknown version, a
new agent, a new order) gets every row. The rows' versions of each board version are kept a while in Redis, keyed
by the version itself (content-addressed: every worker and every supervisor of the same board share them)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import current_app
from redis.exceptions import RedisError

from portal.queue import get_redis
from portal.services.agent_states import BoardRow
from portal.services.assignment import Workload

KEEP_SECONDS = 15 * 60  # a board left open longer without a change gets every row once more
MAX_TAG = 64  # an If-None-Match longer than any version of ours is no version of ours


def _digest(text: str, size: int = 8) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


def row_version(salt: str, r: BoardRow, w: Workload | None) -> str:
    """Changes whenever anything the row shows changes (the row's and the workload's fields, plain values), not
    when only a timer moves on."""
    return _digest(repr((salt, r, w)))


@dataclass(frozen=True)
class Snapshot:
    """The board as one version: its rows' (member ID, version) in order."""
    tag: str
    rows: tuple[tuple[int, str], ...]

    def encode(self) -> bytes:
        return ",".join(f"{member_id}:{version}" for member_id, version in self.rows).encode()

    @classmethod
    def decode(cls, tag: str, raw: bytes) -> Snapshot | None:
        try:
            pairs = [item.split(":") for item in raw.decode().split(",")] if raw else []
            return cls(tag, tuple((int(member_id), version) for member_id, version in pairs))
        except ValueError:
            return None


def snapshot(salt: str, rows: list[BoardRow], work: dict[int, Workload]) -> Snapshot:
    versions = tuple((r.member_id, row_version(salt, r, work.get(r.member_id))) for r in rows)
    return Snapshot(_digest(salt + "|" + ",".join(f"{m}:{v}" for m, v in versions), 12), versions)


def _key(tag: str) -> str:
    return f"portal:board:{tag}"


def remember(board: Snapshot) -> None:
    """Keep the rows' versions of what this answer shows, for the next poll's diff. Without Redis the next poll
    simply gets every row."""
    try:
        get_redis().set(_key(board.tag), board.encode(), ex=KEEP_SECONDS)
    except RedisError:
        current_app.logger.warning("board: Redis unavailable, the next poll sends every row")


def recall(tag: str) -> Snapshot | None:
    if not tag or len(tag) > MAX_TAG or not tag.isalnum():
        return None
    try:
        raw = get_redis().get(_key(tag))
    except RedisError:
        return None
    return None if raw is None else Snapshot.decode(tag, raw)


@dataclass(frozen=True)
class Changes:
    changed: list[int]  # member IDs whose row is sent again
    removed: list[int]  # member IDs whose row goes


def changes(before: Snapshot | None, now: Snapshot) -> Changes | None:
    """What turns the browser's rows into the current ones by row id alone, or None when only every row will do
    (no known version, an agent who was not shown before, another order, or no row left: the "no agent" row)."""
    if before is None or not now.rows:
        return None
    current = [member_id for member_id, _v in now.rows]
    present = set(current)
    if [member_id for member_id, _v in before.rows if member_id in present] != current:
        return None
    old = dict(before.rows)
    return Changes([member_id for member_id, version in now.rows if old[member_id] != version],
                   [member_id for member_id, _v in before.rows if member_id not in present])
