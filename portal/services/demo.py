"""Demo data for development and the browser tests. Idempotent: a second run changes nothing."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Contract, Member, Service, ServiceRole, ServiceStatus, ServiceType
from portal.models.base import utcnow
from portal.services.accounts import create_member
from portal.services.organizations import provision_organization
from portal.services.service_setup import create_service, place_member

DEMO_DOMAIN = "demo"

SERVICES = [
    # key, name, type, languages, default, status
    ("support", "고객지원센터", ServiceType.counseling, ["ko", "en"], "ko", ServiceStatus.active),
    ("shop", "쇼핑몰 상담", ServiceType.counseling, ["ko"], "ko", ServiceStatus.active),
    ("bugs", "이슈 트래커", ServiceType.issue, ["en", "ko"], "en", ServiceStatus.active),
    ("events", "이벤트 문의", ServiceType.counseling, ["ko", "ja"], "ko", ServiceStatus.draft),
]

MEMBERS = [
    # login, name, email, placements: (service, role, ticket, chat, phone)
    ("manager", "김매니저", "manager@demo.example", [("support", ServiceRole.manager, True, True, True),
                                                     ("shop", ServiceRole.manager, True, True, False)]),
    ("agent", "이상담", "agent@demo.example", [("support", ServiceRole.agent, True, True, True),
                                               ("shop", ServiceRole.agent, True, True, False)]),
    ("agent2", "박상담", "agent2@demo.example", [("support", ServiceRole.agent, True, False, True)]),
    ("agent3", "최상담", "agent3@demo.example", [("support", ServiceRole.agent, True, True, False)]),
    ("agent4", "정상담", "agent4@demo.example", [("shop", ServiceRole.agent, True, True, True),
                                                 ("bugs", ServiceRole.agent, True, False, False)]),
]


@dataclass
class DemoResult:
    domain: str
    logins: list[tuple[str, str]] = field(default_factory=list)
    created: int = 0


def seed_demo(password: str) -> DemoResult:
    provisioned = provision_organization(
        name="데모 주식회사", domain=DEMO_DOMAIN, admin_login="admin", admin_email="admin@demo.example",
        admin_name="관리자", password=password,
    )
    org = provisioned.organization
    result = DemoResult(domain=org.domain, created=int(provisioned.created))
    result.logins.append(("admin", "org admin"))

    services: dict[str, Service] = {}
    for key, name, type_, languages, default, status in SERVICES:
        service = db.session.scalars(
            select(Service).where(Service.organization_id == org.id, Service.service_key == key)
        ).first()
        if service is None:
            service = create_service(
                org.id, service_key=key, name=name, type=type_, languages=languages, default_language=default,
                status=status,
            )
            result.created += 1
        services[key] = service

    _demo_contracts(org.id, services)

    for login, name, email, placements in MEMBERS:
        member = db.session.scalars(
            select(Member).where(Member.organization_id == org.id, Member.login_id == login)
        ).first()
        if member is None:
            member = create_member(org.id, login_id=login, name=name, email=email, password=password)
            for key, role, ticket, chat, phone in placements:
                place_member(services[key], member, role, ticket=ticket, chat=chat, phone=phone)
            result.created += 1
        result.logins.append((login, "service manager" if login == "manager" else "agent"))
    return result


# Two contract versions per active service, months apart, so billing has history to show.
CONTRACTS = {
    "support": ({"base.seat": 8, "ticket.management": 8, "chat.basic": 6, "ticket.phone_cti": 4, "helpcenter": 1},
                {"base.seat": 12, "ticket.management": 12, "chat.basic": 8, "ticket.phone_cti": 6, "helpcenter": 1,
                 "survey": 1, "sms": 5}),
    "shop": ({"base.seat": 4, "chat.basic": 4, "channel.messenger": 1},
             {"base.seat": 5, "chat.basic": 5, "channel.messenger": 1, "chatbot": 1}),
    "bugs": ({"base.seat": 3, "ticket.management": 3, "channel.email": 1},
             {"base.seat": 3, "ticket.management": 3, "channel.email": 1}),
}


def _demo_contracts(organization_id: int, services: dict[str, Service]) -> None:
    from portal.services import billing
    from portal.services.contracts import Actor, sign_contract

    actor = Actor(organization_id, None)
    now = utcnow()
    for key, (first, second) in CONTRACTS.items():
        service = services[key]
        if db.session.scalars(select(Contract.id).where(Contract.service_id == service.id)).first() is not None:
            continue
        was = service.status
        v1 = sign_contract(actor, service, first, base_version=None, now=now - timedelta(days=130))
        sign_contract(actor, service, second, base_version=v1.version, now=now - timedelta(days=45))
        service.status = was
    billing.close_finished_months(now)
