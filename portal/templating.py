"""What templates see besides their context: the label functions, formatting filters, and the few helpers
that need a service (ticket field labels, sanitized Markdown, price-list names, the next 01:00). It sits above
the services, which is why it is not part of `portal.labels` (services use the labels themselves)."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask, current_app
from markupsafe import Markup

from portal import labels, messages
from portal.models.base import utcnow
from portal.services.company_info import render_markdown
from portal.services.cti_log import export_zone
from portal.services.jobs import job_message, stall_of
from portal.services.migration import batch_message, next_one_am
from portal.services.migration import stall as batch_stall
from portal.services.price_list import feature
from portal.services.ticket_fields import label as field_label


def markdown(text: str | None) -> Markup:
    """Markdown rendered and sanitized (the help center's rules)."""
    return Markup(render_markdown(text))


def choice_labels(field) -> list[str]:
    """A ticket field's choices as people read them (a system field's codes by their labels)."""
    return [labels.choice_label(field.key, choice) for choice in field.choices or []]


def feature_name(key: str) -> str:
    try:
        return feature(key).name
    except KeyError:
        return key


# A stalled job's fragment asks again this slowly while it waits to be retried, and no more once it has been silent
# this much longer than the retry takes: a poll always ends (the page then says to reload it).
SLOW_POLL = "10s"
POLL_PATIENCE = timedelta(minutes=15)


def poll_delay(last_sign: datetime | None, fast: str) -> str | None:
    """How soon a polling fragment asks again, from its job's last sign of life (a heartbeat, else its creation):
    `fast` while that is fresh, SLOW_POLL once it is stale (the worker stopped; the reconciler retries it), and
    None (stop polling) once it has been silent for stale + tick + POLL_PATIENCE."""
    if last_sign is None:
        return fast
    config = current_app.config
    silent = utcnow() - last_sign
    if silent < timedelta(seconds=config["JOB_STALE_SECONDS"]):
        return fast
    if silent < timedelta(seconds=config["JOB_STALE_SECONDS"] + config["WORKER_TICK_SECONDS"]) + POLL_PATIENCE:
        return SLOW_POLL
    return None


def register(app: Flask) -> None:
    app.jinja_env.globals.update(
        status_label=labels.status_label, type_label=labels.type_label, unit_label=labels.unit_label,
        quantity_label=labels.quantity_label, feature_name=feature_name,
        member_status_label=labels.member_status_label, role_label=labels.role_label,
        channel_label=labels.channel_label, operation_label=labels.operation_label,
        permissions_text=labels.permissions_text, now=utcnow, field_type_label=labels.field_type_label,
        field_label=field_label, ticket_status_label=labels.ticket_status_label,
        batch_status_label=labels.batch_status_label, state_label=labels.state_label,
        call_outcome_label=labels.call_outcome_label, next_one_am=next_one_am, batch_stall=batch_stall,
        job_stall=stall_of, export_zone=export_zone, poll_delay=poll_delay, batch_message=batch_message,
        row_error=messages.row_error, job_message=job_message, choice_labels=choice_labels,
        direction_label=labels.direction_label, interval_reason_label=labels.interval_reason_label,
        ticket_priority_label=labels.ticket_priority_label, ticket_channel_label=labels.ticket_channel_label,
        cti_event_label=labels.cti_event_label,
    )
    app.jinja_env.filters.update(won=labels.won, local=labels.local, duration=labels.duration, clock=labels.clock,
                                 markdown=markdown, local_time=labels.local_time,
                                 age=labels.age)
