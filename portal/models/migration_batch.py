from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import TenantMixin, TimestampMixin, UTCDateTime, str_enum


class BatchStatus(str, enum.Enum):
    checking = "checking"
    check_failed = "check_failed"
    ready = "ready"
    reserved = "reserved"
    applying = "applying"
    completed = "completed"
    failed = "failed"
    deleted = "deleted"


class MigrationBatch(TenantMixin, TimestampMixin, db.Model):
    """One uploaded Excel file of tickets for a service, from check to application."""

    __tablename__ = "migration_batch"
    __table_args__ = (Index("ix_migration_batch_status_due", "status", "scheduled_for"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"))
    filename: Mapped[str] = mapped_column(String(255))
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    status: Mapped[BatchStatus] = mapped_column(str_enum(BatchStatus, "batch_status"), default=BatchStatus.checking)
    rows: Mapped[int] = mapped_column(default=0)
    progress: Mapped[int] = mapped_column(default=0)
    # checks started (the stale sweep restarts a check whose worker died, up to MAX_CHECK_ATTEMPTS)
    check_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    error_count: Mapped[int] = mapped_column(default=0)
    # The first errors, for the detail page: {row, column: [Korean label, English label], code, args}, shown in the
    # reader's language (portal.messages.row_error); rows checked before codes hold {row, column, message}.
    errors: Mapped[list | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(String(1000))  # text of batches stored before message_code existed
    # The check's or the apply's outcome: a code and its parameters, shown in the reader's language (portal.messages).
    message_code: Mapped[str | None] = mapped_column(String(40))
    message_args: Mapped[dict | None] = mapped_column(JSON)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    error_report_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id", ondelete="SET NULL"))
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    apply_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_tickets: Mapped[int | None]
    duration_ms: Mapped[int | None]
    # The apply commits chunk by chunk (services.migration.apply): how many of the file's rows are tickets already,
    # the ticket numbers reserved for the next chunk and not used yet (a restart uses them: no number is lost),
    # and which run owns the apply (each run that takes it counts one more; a taken-over run stops writing).
    applied_rows: Mapped[int] = mapped_column(default=0, server_default="0")
    numbers_from: Mapped[int | None]
    numbers_count: Mapped[int] = mapped_column(default=0, server_default="0")
    apply_runs: Mapped[int] = mapped_column(default=0, server_default="0")
    # What the rows are applied with, fixed for the whole apply so that a restart cannot fail half-way: the
    # assignees' login IDs (lower case) → member ids, as the check found them, and the ticket fields as they were
    # when the apply started.
    assignees: Mapped[dict | None] = mapped_column(JSON)
    applied_fields: Mapped[list | None] = mapped_column(JSON)
    # The admin ticked "assign after apply": the service's automatic assignment takes the unassigned tickets.
    assign_after_apply: Mapped[bool] = mapped_column(default=False, server_default=sa_false())


class MigrationStagedChunk(TenantMixin, db.Model):
    """The rows a check found valid, ready for the apply (services.migration): up to STAGE_CHUNK rows of a batch,
    normalized ticket values as zlib-compressed JSON, so the apply never reads or validates the file again. Kept
    from the check until the batch ends (completed, failed, deleted); `fingerprint` is the batch's, at the check."""

    __tablename__ = "migration_staged_chunk"

    batch_id: Mapped[int] = mapped_column(ForeignKey("migration_batch.id", ondelete="CASCADE"), primary_key=True)
    chunk: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    first_row: Mapped[int]  # how many of the batch's staged rows come before this chunk's
    rows: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
