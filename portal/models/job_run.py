from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import TimestampMixin, UTCDateTime, str_enum


class JobState(str, enum.Enum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class JobStop(str, enum.Enum):
    """Why a run is not where its worker left it; the page words it from the run's own columns (when its heartbeat
    stopped, how many attempts), so nothing translated is stored."""

    worker_stopped = "worker_stopped"  # its worker stopped (killed, lost): it waits to be run again
    given_up = "given_up"  # its worker stopped on every attempt: failed


class JobRun(TimestampMixin, db.Model):
    """One run of a background job, as the UI sees it: state, progress and a message.

    `organization_id` is nullable because platform jobs (closing a month for everyone) have no tenant. A running
    run's worker writes `heartbeat_at` every few seconds; a run whose heartbeat went stale lost its worker.
    """

    __tablename__ = "job_run"
    __table_args__ = (
        CheckConstraint("progress between 0 and 100", name="progress_range"),
        # One run per periodic job and slot: two schedulers at once cannot create two month closings.
        Index("uq_job_run_slot", "kind", "slot", unique=True,
              sqlite_where=text("slot IS NOT NULL"), postgresql_where=text("slot IS NOT NULL")),
        Index("ix_job_run_state_kind", "state", "kind"),  # the reconciler's pending and running runs, every tick
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[JobState] = mapped_column(
        str_enum(JobState, "job_state"),
        default=JobState.pending,
    )
    progress: Mapped[int] = mapped_column(default=0)
    message: Mapped[str | None] = mapped_column(String(500))  # text of runs stored before message_code existed
    # Progress or outcome: a code and its parameters, shown in the reader's language (portal.messages).
    message_code: Mapped[str | None] = mapped_column(String(40))
    message_args: Mapped[dict | None] = mapped_column(JSON)
    rq_job_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # The UI language of whoever started the job: what it writes for that member alone (a CTI log file) is in it.
    locale: Mapped[str | None] = mapped_column(String(8))
    result: Mapped[dict | None] = mapped_column(JSON)
    # What its RQ job carries, so the run can be enqueued again when Redis loses it (null: a run from before).
    args: Mapped[list | None] = mapped_column(JSON)
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when it was scheduled for; null: at once
    slot: Mapped[str | None] = mapped_column(String(32))  # a periodic run's time slot ("202612" for a month)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The running attempt's last sign of life; after a stop, when its worker was last seen.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Attempts started (claims): fences a stopped attempt's late writes out, and caps restarts.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    stop: Mapped[JobStop | None] = mapped_column(str_enum(JobStop, "job_stop"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_finished(self) -> bool:
        return self.state in (JobState.succeeded, JobState.failed)
