"""File storage behind one interface. Files live in the database (StoredFile), so every web process
and worker reads the same bytes; swapping in an object store later changes only this module."""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import undefer

from portal.extensions import db
from portal.models import StoredFile


def store(organization_id: int, *, purpose: str, filename: str, content_type: str, data: bytes) -> StoredFile:
    stored = StoredFile(
        organization_id=organization_id, purpose=purpose, filename=filename[:255], content_type=content_type,
        size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data,
    )
    db.session.add(stored)
    db.session.flush()
    return stored


def store_apart(organization_id: int, *, purpose: str, filename: str, content_type: str, data: bytes,
                purge_before: datetime | None = None) -> int:
    """Store a file through a connection of its own, committed at once whatever becomes of the request's
    transaction: a form refused with 422 rolls its request back yet keeps the file it accepted. With
    `purge_before`, the organization's older files of the same purpose go in the same transaction. Returns the id.
    Call it before the request writes anything (SQLite: the request's transaction would hold the write lock)."""
    with db.engine.begin() as connection:
        if purge_before is not None:
            connection.execute(delete(StoredFile).where(
                StoredFile.organization_id == organization_id, StoredFile.purpose == purpose,
                StoredFile.created_at < purge_before))
        return connection.execute(insert(StoredFile).values(
            organization_id=organization_id, purpose=purpose, filename=filename[:255], content_type=content_type,
            size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data)).inserted_primary_key[0]


def load(organization_id: int, file_id: int) -> StoredFile | None:
    """The file with its bytes, only if it belongs to the organization."""
    return db.session.scalars(
        select(StoredFile).options(undefer(StoredFile.data))
        .where(StoredFile.id == file_id, StoredFile.organization_id == organization_id)
    ).first()
