"""Keyset pagination for every newest-first list (tickets, calls, the permission log, the Open API's lists): the
position (time, id) of the last row shown travels as an opaque cursor, and the next page is the rows before it,
so a deep page costs what the first one does."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

from sqlalchemy import literal, tuple_

from portal.models.base import UTCDateTime
from portal.services import MAX_ID, whole_number


def encode_cursor(when: datetime, row_id: int) -> str:
    """A keyset position (time, id) as an opaque URL-safe string."""
    raw = json.dumps([when.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    """The position a cursor holds, or None for one that is not ours (forged, or out of any table's range)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        when, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when, row_id = datetime.fromisoformat(when).astimezone(timezone.utc), whole_number(row_id, 1, MAX_ID)
    except (ValueError, TypeError, OverflowError, json.JSONDecodeError):  # OverflowError: year 1 in +01:00
        return None
    return (when, row_id) if row_id is not None else None


def keyset_before(time_column, id_column, position: tuple[datetime, int]):
    """The rows after `position` in newest-first order: (time, id) strictly below it."""
    when, row_id = position
    return tuple_(time_column, id_column) < tuple_(literal(when, UTCDateTime()), literal(row_id))
