from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import TimestampMixin, UTCDateTime, str_enum


class JobState(str, enum.Enum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class JobRun(TimestampMixin, db.Model):
    """One run of a background job, as the UI sees it: state, progress and a message.

    `organization_id` is nullable because platform jobs (closing a month for everyone) have no tenant.
    """

    __tablename__ = "job_run"
    __table_args__ = (CheckConstraint("progress between 0 and 100", name="progress_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[JobState] = mapped_column(
        str_enum(JobState, "job_state"),
        default=JobState.pending,
    )
    progress: Mapped[int] = mapped_column(default=0)
    message: Mapped[str | None] = mapped_column(String(500))
    rq_job_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # The UI language of whoever started the job: its messages (errors, mails) are written in it.
    locale: Mapped[str | None] = mapped_column(String(8))
    result: Mapped[dict | None] = mapped_column(JSON)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_finished(self) -> bool:
        return self.state in (JobState.succeeded, JobState.failed)
