"""A service's life: basic info, contract versions, active ⇄ suspended, termination.

Every change records an activity row in the same transaction. Functions flush; callers commit.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from portal.extensions import db
from portal.labels import local
from portal.models import Contract, ContractLine, EditorType, Service, ServiceStatus, ServiceType, StoredFile
from portal.models.base import utcnow
from portal.services import Actor, ServiceError, activity
from portal.services.banners import normalise_banner
from portal.services.price_list import Estimate, estimate
from portal.services.service_setup import basic_info_problems as basic_info_problems_of
from portal.services.service_setup import check_basic_info, create_service, service_key_problem, set_languages
from portal.services.storage import load, store, store_apart

BANNER_PURPOSE = "service_banner"
PENDING_BANNER_PURPOSE = "pending_banner"
PENDING_BANNER_KEEP = timedelta(days=1)


def local_today(service: Service, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(service.time_zone)).date()


def local_midnight(service: Service, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(service.time_zone))


def _log(actor: Actor, action: str, service: Service, details: dict | None = None) -> None:
    activity.record(
        actor.organization_id, actor.member_id, action, subject_type="service", subject_id=service.id,
        subject_label=f"{service.name} ({service.service_key})", details=details, ip=actor.ip,
    )


def _attach_banner(service: Service, banner: tuple[str, bytes] | None, pending_banner_id: int | None = None) -> None:
    """A new banner (checked and re-encoded), else a banner kept pending from a refused form, else none."""
    if banner is not None:
        filename, data = banner
        png = normalise_banner(data)
        stored = store(service.organization_id, purpose=BANNER_PURPOSE, filename=filename or "banner.png",
                       content_type="image/png", data=png)
        service.banner_file_id = stored.id
    elif pending_banner_id is not None:
        kept = pending_banner(service.organization_id, pending_banner_id)
        if kept is not None:
            kept.purpose = BANNER_PURPOSE
            service.banner_file_id = kept.id


def keep_pending_banner(organization_id: int, banner: tuple[str, bytes]) -> tuple[int, str] | None:
    """An accepted banner of a basic-info form that was refused for another field, kept so the admin need not
    choose it again (committed on its own: the refused request rolls back). Returns (id, file name), or None when
    the banner itself is refused. Pending banners are kept a day; a later one clears the older ones."""
    filename, data = banner
    try:
        png = normalise_banner(data)
    except ServiceError:
        return None
    filename = filename or "banner.png"
    file_id = store_apart(organization_id, purpose=PENDING_BANNER_PURPOSE, filename=filename,
                          content_type="image/png", data=png, purge_before=utcnow() - PENDING_BANNER_KEEP)
    return file_id, filename


def pending_banner(organization_id: int, file_id: int) -> StoredFile | None:
    """A banner kept pending for this organization (never another organization's, never a file of another
    purpose)."""
    stored = load(organization_id, file_id)
    return stored if stored is not None and stored.purpose == PENDING_BANNER_PURPOSE else None


def basic_info_problems(organization_id: int, *, service_key: str | None, name: str, languages: list[str],
                        default_language: str, time_zone: str, banner: tuple[str, bytes] | None) -> list[ServiceError]:
    """Everything wrong with a service's basic info at once (with `service_key` for a new service): the wizard
    and the edit page show each refusal at its field instead of one per submit. Writes nothing."""
    problems = []
    if service_key is not None and (problem := service_key_problem(organization_id, service_key)) is not None:
        problems.append(problem)
    problems += basic_info_problems_of(name, languages, default_language, time_zone)
    if banner is not None:
        try:
            normalise_banner(banner[1])
        except ServiceError as exc:
            problems.append(exc)
    return problems


# -- basic info ---------------------------------------------------------------------------------------------

def add_service(
    actor: Actor, *, service_key: str, name: str, type: ServiceType, languages: list[str], default_language: str,
    time_zone: str, editor_type: EditorType, banner: tuple[str, bytes] | None = None,
    pending_banner_id: int | None = None,
) -> Service:
    """Wizard step 1: a draft service, whose contract column says Register until it is contracted. Its banner is
    `banner`, else the one kept pending from a refused submit (`pending_banner_id`)."""
    if banner is not None:
        normalise_banner(banner[1])  # refuse a bad banner before anything is written
    service = create_service(
        actor.organization_id, service_key=service_key, name=name, type=type, languages=languages,
        default_language=default_language, time_zone=time_zone, editor_type=editor_type,
        status=ServiceStatus.draft,
    )
    _attach_banner(service, banner, pending_banner_id)
    _log(actor, "service.created", service, {"type": type.value, "languages": languages,
                                             "default_language": default_language, "time_zone": time_zone})
    return service


def update_basic_info(
    actor: Actor, service: Service, *, revision: int, name: str, type: ServiceType, languages: list[str],
    default_language: str, time_zone: str, editor_type: EditorType, banner: tuple[str, bytes] | None = None,
    remove_banner: bool = False, pending_banner_id: int | None = None,
) -> Service:
    """Every basic field but the service ID. A form opened before someone else's edit is refused."""
    _require_not_terminated(service)
    if revision != service.revision:
        raise ServiceError(
            _("Someone changed this service after you opened the form. Reload it and make your change again."),
            "stale",
        )
    name = check_basic_info(name, languages, default_language, time_zone)
    before = _basic_snapshot(service)
    service.name, service.type, service.time_zone, service.editor_type = name, type, time_zone, editor_type
    set_languages(service, languages, default_language)
    if remove_banner:
        service.banner_file_id = None
    _attach_banner(service, banner, pending_banner_id)
    service.revision += 1
    db.session.flush()
    after = _basic_snapshot(service)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    _log(actor, "service.updated", service, changed)
    return service


def _basic_snapshot(service: Service) -> dict:
    return {
        "name": service.name, "type": service.type.value, "time_zone": service.time_zone,
        "editor_type": service.editor_type.value, "languages": sorted(lang.code for lang in service.languages),
        "default_language": service.default_language, "banner_file_id": service.banner_file_id,
    }


# -- contracts ----------------------------------------------------------------------------------------------

def current_contract(service: Service) -> Contract | None:
    return db.session.scalars(
        select(Contract).where(Contract.service_id == service.id, Contract.effective_to.is_(None))
        .execution_options(populate_existing=True)
    ).first()


def contract_history(service: Service) -> list[Contract]:
    return list(db.session.scalars(
        select(Contract).where(Contract.service_id == service.id).order_by(Contract.version.desc())
    ))


def _modified_today(contract: Contract | None, today: date) -> bool:
    return contract is not None and contract.version > 1 and contract.effective_from >= today


def next_change_at(service: Service, now: datetime | None = None) -> datetime | None:
    """When the contract may be modified again: None if now, else the next midnight in the service's time zone
    (the one place that computes it: the page's notice, the refusal and the API all ask here)."""
    today = local_today(service, now)
    if not _modified_today(current_contract(service), today):
        return None
    return local_midnight(service, today + timedelta(days=1))


def locked_message(service: Service, until: datetime) -> str:
    """Why the contract cannot be modified now and from when it can, in the service's time zone, named."""
    return _("Contract details can be modified once a day, and they were modified today. The next modification "
             "is possible from %(when)s (%(tz)s).", when=local(until, service.time_zone), tz=service.time_zone)


def quantities_of(contract: Contract | None) -> dict[str, int]:
    return {line.feature_key: line.quantity for line in contract.lines} if contract else {}


def sign_contract(
    actor: Actor, service: Service, quantities: dict[str, int], *, base_version: int | None,
    now: datetime | None = None,
) -> Contract:
    """Register the contract of a draft service (it becomes active) or modify a contracted one. The new version is
    in force from today; the previous one ends today.

    The guide's rule: contract details may be modified (수정) once a calendar day in the service's time zone.
    Registering the first contract (등록) is not a modification, so a service contracted today can still be
    modified once today; after a modification the next one is possible from the next local midnight.

    The service row is locked (PostgreSQL) and versions after the first are unique per (service, effective_from),
    so two concurrent modifications cannot both pass; the loser gets the same message as a sequential second one
    (or, when the other registered or modified what it had not seen, the stale-page message). NO KEY UPDATE: it
    leaves inserts that only reference the service (tickets of a migration being applied) free."""
    db.session.execute(
        select(Service.id).where(Service.id == service.id).with_for_update(key_share=True)
    )
    _require_not_terminated(service)
    priced = estimate(quantities)
    today = local_today(service, now)
    previous = current_contract(service)
    _check_modifiable(service, previous, base_version, today)
    contract = Contract(
        organization_id=service.organization_id, service_id=service.id,
        version=(previous.version + 1) if previous else 1, effective_from=today,
        monthly_total=priced.total, created_by_id=actor.member_id,
        lines=[ContractLine(position=i, feature_key=line.feature.key, quantity=line.quantity,
                            unit_price=line.unit_price, amount=line.amount) for i, line in enumerate(priced.lines)],
    )
    was_draft = service.status == ServiceStatus.draft
    try:
        with db.session.begin_nested():  # a lost race undoes this change only, not the caller's transaction
            if previous is not None:
                previous.effective_to = today
            db.session.add(contract)
            if was_draft:
                service.status = ServiceStatus.active
    except IntegrityError:
        # Another registration or modification of this service won the race; its transaction committed first.
        _check_modifiable(service, current_contract(service), base_version, today)
        raise ServiceError(_stale_message(), "stale") from None
    _log(actor, "contract.signed" if was_draft else "contract.changed", service, {
        "version": contract.version, "effective_from": today.isoformat(), "monthly_total": priced.total,
        "previous_total": previous.monthly_total if previous else None,
        "quantities": {line.feature.key: line.quantity for line in priced.lines},
    })
    return contract


def _stale_message() -> str:
    return _("The contract changed after you opened this page. Review the contract in force and try again.")


def _check_modifiable(service: Service, current: Contract | None, base_version: int | None, today: date) -> None:
    if _modified_today(current, today):
        raise ServiceError(locked_message(service, local_midnight(service, today + timedelta(days=1))), "once_a_day")
    if (current.version if current else None) != base_version:
        raise ServiceError(_stale_message(), "stale")


def price_difference(service: Service, proposed: Estimate) -> int | None:
    """Proposed monthly total minus the contract in force (None when there is none yet)."""
    contract = current_contract(service)
    return None if contract is None else proposed.total - contract.monthly_total


# -- status -------------------------------------------------------------------------------------------------

def _require_not_terminated(service: Service) -> None:
    if service.status == ServiceStatus.terminated:
        raise ServiceError(_("%(name)s is terminated and can no longer be changed.", name=service.name), "terminated")


def set_status(actor: Actor, service: Service, target: ServiceStatus) -> Service:
    """Active ⇄ suspended. A suspended service cannot be used but is billed as if active. Setting the status
    it already has changes nothing (a double click is harmless)."""
    if target not in (ServiceStatus.active, ServiceStatus.suspended):
        raise ServiceError(_("A service can only be switched between in use and suspended."), "bad_status")
    _require_not_terminated(service)
    if service.status == ServiceStatus.draft:
        raise ServiceError(_("Register the contract of %(name)s before switching it on.", name=service.name), "draft")
    if service.status == target:
        return service
    before = service.status
    # Conditional on the status read: of two concurrent toggles (a double click, two admins) one changes
    # it and the other finds nothing to change, so the trail never records a change twice.
    table = Service.__table__
    changed = activity.record_if_changed(
        update(table).where(table.c.id == service.id, table.c.status == before).values(status=target),
        actor.organization_id, actor.member_id,
        "service.resumed" if target == ServiceStatus.active else "service.suspended", subject_type="service",
        subject_id=service.id, subject_label=f"{service.name} ({service.service_key})",
        details={"from": before.value, "to": target.value}, ip=actor.ip)
    if changed != 1:  # someone else changed it first: show what it is now
        db.session.refresh(service, ["status"])
        _require_not_terminated(service)
        return service
    set_committed_value(service, "status", target)  # what the UPDATE wrote; no need to read it back
    return service


def terminate(actor: Actor, service: Service, *, confirm_key: str, now: datetime | None = None) -> Service:
    """Only a suspended service can be terminated, and only by naming it. Billing stops on that
    service-local day; the service and its data stay, read-only, for audit and billing history."""
    _require_not_terminated(service)
    if service.status != ServiceStatus.suspended:
        raise ServiceError(_("Suspend %(name)s before terminating it.", name=service.name), "not_suspended")
    if (confirm_key or "").strip() != service.service_key:
        raise ServiceError(_("Type the service ID %(key)s to confirm.", key=service.service_key), "confirm")
    now = now or utcnow()
    changed = db.session.execute(
        update(Service).where(Service.id == service.id, Service.status == ServiceStatus.suspended)
        .values(status=ServiceStatus.terminated, terminated_at=now, terminated_on=local_today(service, now))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(service)
    if changed != 1:  # resumed or terminated by someone else meanwhile
        _require_not_terminated(service)
        raise ServiceError(_("Suspend %(name)s before terminating it.", name=service.name), "not_suspended")
    _log(actor, "service.terminated", service, {"terminated_on": service.terminated_on.isoformat()})
    return service
