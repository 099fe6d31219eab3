"""File storage behind one interface. Files live in the database (StoredFile), so every web process
and worker reads the same bytes; swapping in an object store later changes only this module."""
from __future__ import annotations

import hashlib

from sqlalchemy import select
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


def load(organization_id: int, file_id: int) -> StoredFile | None:
    """The file with its bytes, only if it belongs to the organization."""
    return db.session.scalars(
        select(StoredFile).options(undefer(StoredFile.data))
        .where(StoredFile.id == file_id, StoredFile.organization_id == organization_id)
    ).first()
