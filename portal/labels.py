"""Display names of enums and units in the reader's language, and small formatters: below the services (an
export labels its rows with them); `portal.templating` hands them to the templates."""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import format_currency
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.models import (
    BatchStatus,
    FieldType,
    MemberStatus,
    Operation,
    ServiceRole,
    ServiceStatus,
    ServiceType,
    TicketStatus,
)


def type_label(value: ServiceType) -> str:
    return {ServiceType.counseling: _("Counseling management"), ServiceType.issue: _("Issue management")}[value]


def status_label(value: ServiceStatus) -> str:
    return {
        ServiceStatus.draft: _("Draft"), ServiceStatus.active: _("In use"),
        ServiceStatus.suspended: _("Suspended"), ServiceStatus.terminated: _("Terminated"),
    }[value]


def member_status_label(value: MemberStatus) -> str:
    return {MemberStatus.invited: _("Invited"), MemberStatus.active: _("Active"),
            MemberStatus.disabled: _("Disabled")}[value]


def role_label(value: ServiceRole) -> str:
    return {ServiceRole.manager: _("Service manager"), ServiceRole.agent: _("Agent")}[value]


# Lazy texts: a label is translated when it is shown, one at a time (the supervisor board shows thousands).
CHANNEL_LABELS = {"ticket": _l("Ticket"), "chat": _l("Chat"), "phone": _l("Phone")}
CHAT_STATE_LABELS = {"offline": _l("Offline"), "waiting": _l("Waiting"), "online": _l("Online"), "break": _l("Break")}
PHONE_STATE_LABELS = {
    "offline": _l("Offline"), "ready": _l("Ready"), "inbound_call": _l("On inbound call"),
    "outbound_call": _l("On outbound call"), "transfer": _l("Transfer"), "ticket_work": _l("Ticket work"),
    "chat_work": _l("Chat work"), "break": _l("Break"), "meal": _l("Meal"), "training": _l("Training"),
    "reporting": _l("Reporting"), "meeting": _l("Meeting"), "coaching": _l("Coaching"),
}


def channel_label(channel: str) -> str:
    return str(CHANNEL_LABELS[channel])


def operation_label(value: Operation) -> str:
    return {
        Operation.grant_org_admin: _("Org admin granted"), Operation.revoke_org_admin: _("Org admin revoked"),
        Operation.add_service_member: _("Service member added"),
        Operation.remove_service_member: _("Service member removed"),
        Operation.change_role: _("Role changed"), Operation.change_channel: _("Channel permission changed"),
    }[value]


def permissions_text(snapshot: dict | None) -> str:
    """A permission snapshot as people read it: "Org admin" or "Agent · Ticket, Phone"."""
    if not snapshot:
        return "—"
    if "org_admin" in snapshot:
        return _("Org admin") if snapshot["org_admin"] else _("Not org admin")
    channels = [channel_label(c) for c in ("ticket", "chat", "phone") if snapshot.get(c)]
    role = role_label(ServiceRole(snapshot["role"])) if snapshot.get("role") else ""
    return " · ".join(part for part in (role, ", ".join(channels) or _("no channel")) if part)


def field_type_label(value: FieldType) -> str:
    return {
        FieldType.text: _("Text"), FieldType.long_text: _("Long text"), FieldType.number: _("Number"),
        FieldType.date: _("Date"), FieldType.datetime: _("Date and time"), FieldType.single_choice: _("Single choice"),
        FieldType.multi_choice: _("Multiple choice"), FieldType.checkbox: _("Checkbox"), FieldType.email: _("E-mail"),
        FieldType.phone: _("Phone"), FieldType.member: _("Member login ID"),
    }[value]


def ticket_status_label(value: TicketStatus) -> str:
    return {TicketStatus.unassigned: _("Unassigned"), TicketStatus.in_progress: _("In progress"),
            TicketStatus.resolved: _("Resolved"), TicketStatus.completed: _("Completed")}[value]


def batch_status_label(value: BatchStatus) -> str:
    return {
        BatchStatus.checking: _("Checking"), BatchStatus.check_failed: _("Check failed"),
        BatchStatus.ready: _("Ready to confirm"), BatchStatus.reserved: _("Reserved"),
        BatchStatus.applying: _("Applying"), BatchStatus.completed: _("Completed"), BatchStatus.failed: _("Failed"),
        BatchStatus.deleted: _("Deleted"),
    }[value]


def local(moment, zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An aware time shown in a service's time zone."""
    return moment.astimezone(ZoneInfo(zone)).strftime(fmt) if moment else ""


def local_time(moment, zone: str) -> str:
    """An aware time in a service's time zone as a clock reads it (HH:MM), with its day when that is not today."""
    if not moment:
        return ""
    local = moment.astimezone(ZoneInfo(zone))
    same_day = local.date() == datetime.now(ZoneInfo(zone)).date()
    return local.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")


def duration(seconds: float | int | None) -> str:
    """Seconds as h:mm:ss (the way a stopwatch shows them)."""
    total = int(round(seconds or 0))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def clock(seconds: float | int | None) -> str:
    """A running timer as the browser shows it (portal.js): m:ss, or h:mm:ss from an hour on."""
    total = max(0, int(seconds or 0))
    hours, minutes, secs = total // 3600, total % 3600 // 60, total % 60
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def state_label(channel: str, state: str) -> str:
    return str((CHAT_STATE_LABELS if channel == "chat" else PHONE_STATE_LABELS)[state])


def call_outcome_label(outcome: str) -> str:
    return {"answered": _("Answered"), "abandoned": _("Missed"), "no_answer": _("No answer"),
            "failed": _("Failed")}.get(outcome, outcome)


def cti_error_text(code: str | None, args: dict | None = None, legacy: str | None = None) -> str | None:
    """Why a stored CTI event drove nothing (or, `late`, no state), in the reader's language. `legacy` is the
    text stored by events received before codes were."""
    if not code:
        return legacy
    args = args if isinstance(args, dict) else {}
    if code == "unknown_cti_id":
        return _("Unknown CTI ID %(cti_id)s.", cti_id=args.get("cti_id", "?"))
    if code == "unknown_call":
        return _("No call %(call)s was started.", call=args.get("call", "?"))
    if code == "late":
        return _("Arrived after a later event of this agent: logged, the agent's state was not changed.")
    if code == "no_permission":
        return _("The agent has no phone permission in this service.")
    return _("The event could not be applied (%(code)s).", code=code)


def won(amount: int) -> str:
    return format_currency(amount, "KRW")


def unit_label(unit: str) -> str:
    return {"per_agent_month": _("per agent / month"), "per_1000": _("per 1,000 / month"),
            "flat_month": _("per month")}[unit]


def quantity_label(unit: str) -> str:
    return {"per_agent_month": _("agents"), "per_1000": _("× 1,000 items"), "flat_month": ""}[unit]
