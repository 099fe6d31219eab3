"""Migration staging: the rows a check found valid, normalized for the ticket table and kept compressed, chunk by
chunk (MigrationStagedChunk), until the batch ends. The apply inserts them from here: it never reads or validates
the file a second time, and any worker can continue it (the rows are in the database, not in a process).

A staged row is a list of the ticket's values that do not depend on when or by which run it is applied, in the
order of COLUMNS; the apply adds the organization, service, batch, number and times (services.migration)."""
from __future__ import annotations

import json
import zlib
from datetime import datetime
from typing import Iterator

from sqlalchemy import and_, delete, exists, func, insert, select

from portal.extensions import db
from portal.models import BatchStatus, MigrationBatch, MigrationStagedChunk

STAGE_CHUNK = 1000  # rows per stored chunk: one SELECT and one decompression per 1,000 tickets applied
COLUMNS = ("source_row", "title", "body", "status", "priority", "channel", "requester_name", "requester_email",
           "requester_phone", "assignee_id", "category", "tags", "custom", "external_id", "created_at", "closed_at")
CREATED_AT, CLOSED_AT = COLUMNS.index("created_at"), COLUMNS.index("closed_at")
# A batch in one of these has no use for its staged rows any more.
ENDED = (BatchStatus.check_failed, BatchStatus.completed, BatchStatus.failed, BatchStatus.deleted)


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


def staged_row(number: int, values: dict, custom_keys: list[str]) -> list:
    """One checked row's values (RowValidator) as the ticket stores them, defaults filled in: the row's source
    number first, times as ISO text (JSON has no datetime)."""
    tags = values.get("tags")
    custom = {k: _iso(values[k]) for k in custom_keys if k in values}
    return [number, values["title"], values.get("body"), values.get("status") or "unassigned",
            values.get("priority") or "normal", values.get("channel") or "migration", values.get("requester_name"),
            values.get("requester_email"), values.get("requester_phone"), values.get("assignee"),
            values.get("category"), [t.strip() for t in tags.split(",") if t.strip()] if tags else None,
            custom or None, values.get("external_id"), _iso(values.get("created_at")), _iso(values.get("closed_at"))]


def ticket_values(row: list) -> dict:
    """A staged row as ticket column values (times as aware datetimes; created_at None when the file had none)."""
    values = dict(zip(COLUMNS, row))
    if row[CREATED_AT] is not None:
        values["created_at"] = datetime.fromisoformat(row[CREATED_AT])
    if row[CLOSED_AT] is not None:
        values["closed_at"] = datetime.fromisoformat(row[CLOSED_AT])
    return values


class Stager:
    """Collects a check's rows and stages them in chunks of STAGE_CHUNK. `write()` inserts the chunks sealed so
    far (the check calls it right before it commits its progress, so SQLite's write lock is held only for that
    commit); `write(final=True)` also the last, partial one."""

    def __init__(self, batch_id: int, organization_id: int, fingerprint: str):
        self.batch_id, self.organization_id, self.fingerprint = batch_id, organization_id, fingerprint
        self.pending: list[list] = []
        self.sealed: list[dict] = []
        self.chunks = self.rows = 0
        self.stopped = False

    def add(self, row: list) -> None:
        if self.stopped:
            return
        self.pending.append(row)
        if len(self.pending) >= STAGE_CHUNK:
            self._seal()

    def stop(self) -> None:
        """Stage nothing more, and write nothing not written yet (the file has an error: nothing is applied)."""
        self.stopped, self.pending, self.sealed = True, [], []

    def _seal(self) -> None:
        data = zlib.compress(json.dumps(self.pending, ensure_ascii=False, separators=(",", ":")).encode(), 1)
        self.sealed.append({"organization_id": self.organization_id, "batch_id": self.batch_id,
                            "chunk": self.chunks, "first_row": self.rows, "rows": len(self.pending),
                            "fingerprint": self.fingerprint, "data": data})
        self.chunks, self.rows, self.pending = self.chunks + 1, self.rows + len(self.pending), []

    def write(self, final: bool = False) -> None:
        if final and self.pending:
            self._seal()
        if self.sealed:
            db.session.execute(insert(MigrationStagedChunk.__table__), self.sealed)
            self.sealed = []


def staged_count(batch_id: int, organization_id: int, fingerprint: str | None) -> int:
    """How many rows are staged for the batch by a check of these fields (0: none, e.g. checked before staging)."""
    return db.session.scalar(select(func.coalesce(func.sum(MigrationStagedChunk.rows), 0)).where(
        MigrationStagedChunk.batch_id == batch_id, MigrationStagedChunk.organization_id == organization_id,
        MigrationStagedChunk.fingerprint == fingerprint)) or 0


def staged_rows(batch_id: int, organization_id: int, start: int = 0) -> Iterator[list]:
    """The batch's staged rows from the `start`-th on, in file order. One SELECT per chunk, each read whole before
    its rows are yielded: the caller commits between them."""
    chunks = db.session.execute(select(MigrationStagedChunk.chunk, MigrationStagedChunk.first_row).where(
        MigrationStagedChunk.batch_id == batch_id, MigrationStagedChunk.organization_id == organization_id,
        MigrationStagedChunk.first_row + MigrationStagedChunk.rows > start).order_by(MigrationStagedChunk.chunk)).all()
    for chunk, first_row in chunks:
        data = db.session.scalar(select(MigrationStagedChunk.data).where(
            MigrationStagedChunk.batch_id == batch_id, MigrationStagedChunk.organization_id == organization_id,
            MigrationStagedChunk.chunk == chunk))
        rows = json.loads(zlib.decompress(data))
        yield from rows[max(0, start - first_row):]


def clear(batch_id: int) -> None:
    """Drop the batch's staged rows (a check starting over)."""
    db.session.execute(delete(MigrationStagedChunk).where(MigrationStagedChunk.batch_id == batch_id)
                       .execution_options(synchronize_session=False))


def drop_if_ended(batch_id: int) -> None:
    """Drop the batch's staged rows if the batch has ended (as this transaction sees it): completed, failed,
    deleted, or its check failed. A check that staged rows after a deletion it had not seen yet is caught too."""
    ended = exists().where(and_(MigrationBatch.id == batch_id, MigrationBatch.status.in_(ENDED)))
    db.session.execute(delete(MigrationStagedChunk).where(MigrationStagedChunk.batch_id == batch_id, ended)
                       .execution_options(synchronize_session=False))
