"""CTI management (CTI 관리): which services have phone CTI, their settings, and agents' CTI credentials."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import (
    Contract,
    ContractLine,
    CtiAgent,
    CtiSettings,
    CtiVersion,
    Member,
    Organization,
    Service,
    ServiceMember,
    ServiceStatus,
)
from portal.models.base import utcnow
from portal.services import Actor, ServiceError, activity, whole_number
from portal.services.price_list import CTI_FEATURE

CTI_ID_RE = re.compile(r"^[A-Za-z0-9._-]{2,32}$")
CTI_NUMBER_RE = re.compile(r"^[0-9]{2,20}$")
TENANT_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
RETENTION_DAYS = (7, 3650)
TOGGLES = ("mobile_activated", "log_monitoring", "after_call_bulk", "outbound_auto_ticket")


def _with_cti():
    """Services whose contract in force enables ticket.phone_cti and that are not terminated."""
    has_cti = exists().where(ContractLine.contract_id == Contract.id, ContractLine.feature_key == CTI_FEATURE)
    return (select(Service).join(Contract, (Contract.service_id == Service.id) & Contract.effective_to.is_(None))
            .where(Service.status != ServiceStatus.terminated, has_cti))


def cti_services(organization_id: int) -> list[Service]:
    """The organization's services with phone CTI, by name."""
    return list(db.session.scalars(_with_cti().where(Service.organization_id == organization_id)
                                   .order_by(func.lower(Service.name))))


def has_cti(service: Service) -> bool:
    """One EXISTS query (the phone widget asks it on every page an agent opens)."""
    return db.session.scalar(select(_with_cti().where(Service.id == service.id).exists()))


def require_cti(service: Service) -> None:
    if not has_cti(service):
        raise ServiceError(_("%(name)s has no phone CTI in its contract. Add Phone (CTI) to the contract first.",
                             name=service.name), "no_cti")


def settings_of(service: Service) -> CtiSettings:
    """The service's CTI settings (created with the service)."""
    return db.session.scalars(select(CtiSettings).where(CtiSettings.service_id == service.id)).one()


def _log(actor: Actor, service: Service, changes: dict) -> None:
    activity.record(actor.organization_id, actor.member_id, "cti.settings_changed", subject_type="service",
                    subject_id=service.id, subject_label=service.name, details=changes, ip=actor.ip)


def set_toggle(actor: Actor, service: Service, name: str, value: bool, *, remove_version: bool = False) -> CtiSettings:
    """One of the on/off settings. Mobile Contact as the CTI version needs its activation: switching activation off
    while it is the version is refused unless the caller says to remove the version too (the page asks first),
    and then the service has no CTI version until one is chosen."""
    require_cti(service)
    if name not in TOGGLES:
        raise ServiceError(_("Unknown setting: %(name)s.", name=name), "bad_setting")
    settings = settings_of(service)
    before = getattr(settings, name)
    changes = {name: {"from": before, "to": bool(value)}} if before != bool(value) else {}
    if name == "mobile_activated" and not value and settings.version == CtiVersion.mobile:
        if not remove_version:
            raise ServiceError(mobile_version_question(service), "version_needs_mobile")
        settings.version = None
        changes["version"] = {"from": CtiVersion.mobile.value, "to": None}
    setattr(settings, name, bool(value))
    settings.updated_at = utcnow()
    db.session.flush()
    if changes:
        _log(actor, service, changes)
    return settings


def mobile_version_question(service: Service) -> str:
    """What switching Mobile Contact activation off does while Mobile Contact is the service's CTI version."""
    return _("Mobile Contact is the CTI version of %(name)s. Switching its activation off removes that version: "
             "%(name)s has no CTI version until you choose one and save.", name=service.name)


def save_connection(actor: Actor, service: Service, *, version: str, tenant_id: str, tenant_name: str) -> CtiSettings:
    """CTI version and the tenant given by the telephony operator. IPCC only for approved organizations;
    Mobile Contact only once it is activated."""
    require_cti(service)
    settings = settings_of(service)
    org = db.session.get(Organization, service.organization_id)
    chosen = None
    if version:
        if version not in CtiVersion._value2member_map_:
            raise ServiceError(_("Choose IPCC (Private) or Mobile Contact."), "bad_version")
        chosen = CtiVersion(version)
    if chosen == CtiVersion.ipcc and not org.ipcc_approved:
        raise ServiceError(_("IPCC (Private) needs the support center's approval of your organization. Contact "
                             "the support center."), "ipcc_not_approved")
    if chosen == CtiVersion.mobile and not settings.mobile_activated:
        raise ServiceError(_("Activate Mobile Contact first."), "mobile_inactive")
    tenant_id, tenant_name = (tenant_id or "").strip(), (tenant_name or "").strip()
    if tenant_id and not TENANT_ID_RE.match(tenant_id):
        raise ServiceError(_("A tenant ID is 1–64 letters, digits or . _ -."), "bad_tenant_id")
    if len(tenant_name) > 100:
        raise ServiceError(_("A tenant name is at most 100 characters."), "bad_tenant_name")
    before = {"version": settings.version.value if settings.version else None, "tenant_id": settings.tenant_id,
              "tenant_name": settings.tenant_name}
    settings.version, settings.tenant_id, settings.tenant_name = chosen, tenant_id or None, tenant_name or None
    settings.updated_at = utcnow()
    db.session.flush()
    after = {"version": version or None, "tenant_id": settings.tenant_id, "tenant_name": settings.tenant_name}
    if before != after:
        _log(actor, service, {"from": before, "to": after})
    return settings


def _set_number(actor: Actor, service: Service, name: str, value: int | None) -> CtiSettings:
    settings = settings_of(service)
    if getattr(settings, name) != value:
        _log(actor, service, {name: {"from": getattr(settings, name), "to": value}})
        setattr(settings, name, value)
        settings.updated_at = utcnow()
        db.session.flush()
    return settings


def set_retention(actor: Actor, service: Service, days: str | int) -> CtiSettings:
    """How many days of CTI log the service keeps (the daily cleanup job deletes older days)."""
    require_cti(service)
    value = whole_number(days, *RETENTION_DAYS)
    if value is None:
        raise ServiceError(_("Keep the CTI log for %(low)d to %(high)d days.", low=RETENTION_DAYS[0],
                             high=RETENTION_DAYS[1]), "bad_retention")
    return _set_number(actor, service, "log_retention_days", value)


ACW_LIMIT_SECONDS = (10, 3600)


def set_acw_limit(actor: Actor, service: Service, seconds: str | int | None) -> CtiSettings:
    """After-call work limit: empty for none, else how many seconds an agent stays in ticket work after a call
    before returning to ready by themselves."""
    require_cti(service)
    value = None
    if str(seconds if seconds is not None else "").strip():
        value = whole_number(seconds, *ACW_LIMIT_SECONDS)
        if value is None:
            raise ServiceError(_("The after-call work limit is %(low)d to %(high)d seconds, or empty for none.",
                                 low=ACW_LIMIT_SECONDS[0], high=ACW_LIMIT_SECONDS[1]), "bad_acw_limit")
    return _set_number(actor, service, "acw_limit_seconds", value)


# -- CTI agents ---------------------------------------------------------------------------------------------

def phone_members(organization_id: int, query: str = "", page: int = 1, size: int = 50):
    """Members holding the phone permission in at least one service, with their CTI credentials (or None),
    matching `query` against name, login ID or CTI ID."""
    with_phone = exists().where(ServiceMember.member_id == Member.id, ServiceMember.can_phone.is_(True))
    q = (select(Member, CtiAgent).outerjoin(CtiAgent, CtiAgent.member_id == Member.id)
         .where(Member.organization_id == organization_id, with_phone))
    needle = (query or "").strip().lower()
    if len(needle) > 100:
        return [], 0  # longer than a name, login ID or CTI ID: nothing matches (SQLite refuses huge LIKE patterns)
    if needle:
        q = q.where(or_(func.lower(Member.name).contains(needle, autoescape=True),
                        func.lower(Member.login_id).contains(needle, autoescape=True),
                        func.lower(CtiAgent.cti_id).contains(needle, autoescape=True)))
    total = db.session.scalar(select(func.count()).select_from(q.subquery()))
    rows = db.session.execute(q.order_by(Member.name, Member.id).limit(size).offset((max(page, 1) - 1) * size)).all()
    return rows, total


def has_phone_permission(member: Member) -> bool:
    return db.session.scalar(select(exists().where(ServiceMember.member_id == member.id,
                                                   ServiceMember.can_phone.is_(True))))


def set_credentials(actor: Actor, member: Member, *, cti_id: str, cti_number: str) -> CtiAgent:
    """Give a phone agent a CTI ID and number, each unique in the organization. A duplicate (also one saved
    at the same moment by another admin) is refused with a message, not an error page."""
    cti_id, cti_number = (cti_id or "").strip(), (cti_number or "").strip().replace("-", "")
    if member.organization_id != actor.organization_id:
        raise ServiceError(_("The member is not part of this organization."), "foreign_member")
    if not has_phone_permission(member):
        raise ServiceError(_("%(name)s has no phone permission in any service.", name=member.name), "no_phone")
    if not CTI_ID_RE.match(cti_id):
        raise ServiceError(_("A CTI ID is 2–32 letters, digits or . _ -."), "bad_cti_id")
    if not CTI_NUMBER_RE.match(cti_number):
        raise ServiceError(_("A CTI number is 2–20 digits."), "bad_cti_number")
    for column, value, message, code in (
        (CtiAgent.cti_id, cti_id, _("The CTI ID %(value)s is already used by another agent.", value=cti_id),
         "cti_id_taken"),
        (CtiAgent.cti_number, cti_number,
         _("The CTI number %(value)s is already used by another agent.", value=cti_number), "cti_number_taken"),
    ):
        taken = db.session.scalars(select(CtiAgent).where(CtiAgent.organization_id == actor.organization_id,
                                                          column == value, CtiAgent.member_id != member.id)).first()
        if taken is not None:
            raise ServiceError(message, code)
    agent = db.session.scalars(select(CtiAgent).where(CtiAgent.member_id == member.id)).first()
    before = {"cti_id": agent.cti_id, "cti_number": agent.cti_number} if agent else None
    try:
        with db.session.begin_nested():  # a lost race undoes this change only, not the caller's transaction
            if agent is None:
                agent = CtiAgent(organization_id=member.organization_id, member_id=member.id, cti_id=cti_id,
                                 cti_number=cti_number)
                db.session.add(agent)
            else:
                agent.cti_id, agent.cti_number = cti_id, cti_number
            agent.updated_at = utcnow()
    except IntegrityError:  # the same value committed by someone else a moment ago
        raise ServiceError(_("The CTI ID or CTI number was just taken by another agent. Choose another."),
                           "duplicate") from None
    activity.record(actor.organization_id, actor.member_id, "cti.agent_credentials", subject_type="member",
                    subject_id=member.id, subject_label=f"{member.name} ({member.login_id})",
                    details={"from": before, "to": {"cti_id": cti_id, "cti_number": cti_number}}, ip=actor.ip)
    return agent
