"""Display names of enums and units in the reader's language, and small formatters: below the services (an
export labels its rows with them); `portal.templating` hands them to the templates."""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import force_locale, format_currency
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.config import SUPPORTED_LOCALES
from portal.models import (
    AssignMode,
    BatchStatus,
    FieldType,
    MemberStatus,
    Operation,
    ServiceRole,
    ServiceStatus,
    ServiceType,
    TicketChannel,
    TicketPriority,
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


def ticket_priority_label(value: TicketPriority) -> str:
    return {TicketPriority.low: _("Low"), TicketPriority.normal: _("Normal"), TicketPriority.high: _("High"),
            TicketPriority.urgent: _("Urgent")}[value]


def ticket_channel_label(value: TicketChannel) -> str:
    return {TicketChannel.web: _("Web"), TicketChannel.email: _("E-mail"), TicketChannel.chat: _("Chat"),
            TicketChannel.phone_ib: _("Phone (inbound)"), TicketChannel.phone_ob: _("Phone (outbound)"),
            TicketChannel.migration: _("Data migration")}[value]


# The system ticket fields whose choices are codes (ticket_fields.SYSTEM_CHOICES), and how people read them.
_SYSTEM_CHOICES = {"status": (TicketStatus, ticket_status_label), "priority": (TicketPriority, ticket_priority_label),
                   "channel": (TicketChannel, ticket_channel_label)}


def choice_label(field_key: str, choice: str) -> str:
    """A choice of a ticket field as people read it: a system field's choices are codes, shown by their label; a
    custom field's are the admin's own words, shown as they are."""
    enum_and_label = _SYSTEM_CHOICES.get(field_key)
    if enum_and_label is None or choice not in enum_and_label[0]._value2member_map_:
        return choice
    return enum_and_label[1](enum_and_label[0](choice))


def choice_spellings(field_key: str, choices: list[str]) -> dict[str, str]:
    """What a filled template may hold for each choice of a system field, lower-cased → the code: the code itself
    and its label in every UI language (a template made in Korean, filled by someone reading English, and back).
    Empty for a custom field: its choices are taken as written."""
    if field_key not in _SYSTEM_CHOICES:
        return {}
    spellings = {choice.lower(): choice for choice in choices}
    for locale in SUPPORTED_LOCALES:
        with force_locale(locale):
            spellings.update({choice_label(field_key, choice).lower(): choice for choice in choices})
    return spellings


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


def assign_mode_label(value: AssignMode | str) -> str:
    """How automatic assignment picks the agent (the code as stored in a ticket's history when unknown)."""
    code = value.value if isinstance(value, AssignMode) else str(value)
    return {"round_robin": _("round-robin"), "least_loaded": _("least-loaded")}.get(code, code)


def age(since: datetime | None, now: datetime | None = None) -> str:
    """How long ago, the way an agent glances at it: "5 min", "3 h", "2 d" (whole units, rounded down)."""
    if since is None:
        return ""
    minutes = max(0, int(((now or datetime.now(since.tzinfo)) - since).total_seconds() // 60))
    if minutes < 60:
        return _("%(n)d min", n=minutes)
    if minutes < 48 * 60:
        return _("%(n)d h", n=minutes // 60)
    return _("%(n)d d", n=minutes // (24 * 60))


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


def direction_label(direction: str | None) -> str:
    """A call's direction (IB / OB, as the telephony says it)."""
    return {"IB": _("Inbound"), "OB": _("Outbound")}.get(direction or "", direction or "")


CTI_EVENT_LABELS = {
    "agent_login": _l("Agent login"), "agent_logout": _l("Agent logout"), "state_change": _l("State change"),
    "inbound_ringing": _l("Inbound ringing"), "answered": _l("Answered"), "outbound_dial": _l("Outbound dial"),
    "connected": _l("Connected"), "transfer": _l("Transfer"), "hangup": _l("Hang-up"), "error": _l("Error"),
}


def cti_event_label(kind: str) -> str:
    """A CTI event kind (cti_events.KINDS) as people read it."""
    label = CTI_EVENT_LABELS.get(kind)
    return str(label) if label is not None else kind


def phone_state_label(state: str | None) -> str:
    """A phone state named by the telephony: its label, or the name as sent when it is none of ours."""
    label = PHONE_STATE_LABELS.get(state or "")
    return str(label) if label is not None else (state or "")


# Why an agent's state interval began or ended, when the portal (not a person) gave the reason; a supervisor's own
# reason is their text, shown as it is.
INTERVAL_REASON_LABELS = {
    "after-call": _l("After the call"), "after-call-choice": _l("After the call"),
    "acw-timeout": _l("After-call work limit reached"), "idle": _l("Idle timeout"), "logout": _l("Logged out"),
}


def interval_reason_label(reason: str | None) -> str:
    label = INTERVAL_REASON_LABELS.get(reason or "")
    return str(label) if label is not None else (reason or "")


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
