"""Demo data for development and the browser tests. Idempotent: a second run changes nothing."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Contract,
    CtiAgent,
    Member,
    Organization,
    Service,
    ServiceMember,
    ServiceRole,
    ServiceStatus,
    ServiceType,
)
from portal.models.base import utcnow
from portal.services import Actor, agent_states, assignment, billing, company_info, cti
from portal.services.accounts import create_member
from portal.services.contracts import sign_contract
from portal.services.organizations import provision_organization
from portal.services.permissions import add_service_member, change_role, grant_org_admin, set_channel
from portal.services.service_setup import create_service

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
    ("subadmin", "강관리", "subadmin@demo.example", []),
]
# More agents, so lists, searches and the permission log look like a working contact center.
SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN = ["민준", "서연", "도윤", "하은", "시우", "지우", "예준", "수아", "주원", "지아", "하준", "서윤", "은우", "다은"]
EXTRA_AGENTS = 24
HISTORY_CHANGES = 300


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

    admin = provisioned.admin
    actor = Actor(org.id, admin.id)
    created_members = []
    for login, name, email, placements in MEMBERS + _extra_agents():
        member = db.session.scalars(
            select(Member).where(Member.organization_id == org.id, Member.login_id == login)
        ).first()
        if member is None:
            member = create_member(org.id, login_id=login, name=name, email=email, password=password)
            for key, role, ticket, chat, phone in placements:
                add_service_member(actor, services[key], member, role, ticket=ticket, chat=chat, phone=phone,
                                   at=utcnow() - timedelta(days=40))
            created_members.append(member)
            result.created += 1
        if login in ("manager", "agent", "subadmin"):
            result.logins.append((login, {"manager": "service manager", "agent": "agent",
                                          "subadmin": "org admin"}[login]))
    if created_members:
        _history(actor, services, created_members)
        _company_info(actor, services["support"])
        _cti(actor, services["support"])
        _at_work(actor, services["support"])
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


def _extra_agents() -> list:
    agents = []
    for i in range(EXTRA_AGENTS):
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 5) % len(GIVEN)]
        key = ("support", "shop", "bugs")[i % 3]
        agents.append((f"agent{i + 5:02d}", name, f"agent{i + 5:02d}@demo.example",
                       [(key, ServiceRole.agent, True, i % 2 == 0, i % 3 == 0)]))
    return agents


def _history(actor: Actor, services: dict[str, Service], members: list[Member]) -> None:
    """A month of realistic permission changes, oldest first, through the same functions as the UI."""
    rng = random.Random(7)  # the same demo every time
    start = utcnow() - timedelta(days=30)
    step = timedelta(days=30) / (HISTORY_CHANGES + 2)

    # Only the extra agents' permissions churn: the named demo logins keep what the README promises.
    churn = [m.id for m in members if m.login_id in {login for login, *_rest in _extra_agents()}]
    links = list(db.session.scalars(select(ServiceMember).where(ServiceMember.member_id.in_(churn))))
    if not links:
        return
    by_id = {m.id: m for m in members}
    for i in range(HISTORY_CHANGES):
        link = rng.choice(links)
        channel = rng.choice(("ticket", "chat", "phone"))
        set_channel(actor, link.service, by_id[link.member_id], channel, not getattr(link, f"can_{channel}"),
                    at=start + step * i)
    subadmin = next((m for m in members if m.login_id == "subadmin"), None)
    if subadmin is not None:
        grant_org_admin(actor, subadmin, at=start + step * HISTORY_CHANGES)
    promoted = next((m for m in members if m.login_id == "agent3"), None)
    if promoted is not None:
        change_role(actor, services["support"], promoted, ServiceRole.manager, acting_is_org_admin=True,
                    at=start + step * (HISTORY_CHANGES + 1))
        change_role(actor, services["support"], promoted, ServiceRole.agent, acting_is_org_admin=True)


def _company_info(actor: Actor, support: Service) -> None:
    korean = company_info.create(actor, {
        "title": "데모 주식회사 (한국어)", "language": "ko", "company_name": "데모 주식회사", "representative": "홍길동",
        "address": "서울특별시 중구 세종대로 110", "business_number": "123-45-67890", "phone": "02-1234-5678",
        "email": "help@demo.example", "trademark": "© 2026 Demo Corp. All rights reserved.",
        "terms_md": "# 이용약관\n\n## 제1조 (목적)\n\n이 약관은 데모 주식회사가 제공하는 고객지원 서비스의 이용 조건을 정합니다.",
        "privacy_md": "# 개인정보처리방침\n\n데모 주식회사는 상담에 필요한 최소한의 개인정보만 수집합니다.",
    })
    english = company_info.create(actor, {
        "title": "Demo Corp. (English)", "language": "en", "company_name": "Demo Corp.", "representative": "Gildong Hong",
        "address": "110 Sejong-daero, Jung-gu, Seoul", "business_number": "123-45-67890", "phone": "+82 2-1234-5678",
        "email": "help@demo.example", "trademark": "© 2026 Demo Corp. All rights reserved.",
        "terms_md": "# Terms of use\n\n## Article 1 (Purpose)\n\nThese terms govern the customer support of Demo Corp.",
        "privacy_md": "# Privacy policy\n\nDemo Corp. collects only the personal data a consultation needs.",
    })
    company_info.apply(actor, support, "ko", korean)
    company_info.apply(actor, support, "en", english)


def _cti(actor: Actor, support: Service) -> None:
    """The support desk has phone CTI: monitoring on, and CTI credentials for the demo agents with phone."""
    cti.set_toggle(actor, support, "log_monitoring", True)
    for number, login in enumerate(("agent", "agent2", "manager"), start=7001):
        member = db.session.scalars(select(Member).where(Member.organization_id == support.organization_id,
                                                         Member.login_id == login)).one()
        cti.set_credentials(actor, member, cti_id=f"{login}01", cti_number=str(number))


AT_WORK = 4  # support agents present when the demo starts, so automatic assignment has someone to give tickets to


def _at_work(actor: Actor, support: Service) -> None:
    """The support desk assigns automatically (round-robin), and a few of its agents are at work: phone ready
    (chat waiting for those without phone; chat idles out, phone does not). `agent` and `agent2` are left to the
    CTI simulator, which logs them in and out."""
    assignment.set_mode(actor, support, True, "round_robin")
    links = db.session.execute(
        select(ServiceMember, Member).join(Member, Member.id == ServiceMember.member_id).where(
            ServiceMember.service_id == support.id, ServiceMember.role == ServiceRole.agent,
            ServiceMember.can_ticket.is_(True), ServiceMember.can_phone.is_(True) | ServiceMember.can_chat.is_(True),
            Member.login_id.not_in(("agent", "agent2"))).order_by(Member.login_id).limit(AT_WORK)).all()
    for link, member in links:
        channel, state = ("phone", "ready") if link.can_phone else ("chat", "waiting")
        agent_states.change(Actor(actor.organization_id, member.id), member, support, channel, state)


def demo_cti_agents(count: int, service_key: str = "support") -> list[str]:
    """At least `count` phone agents of the demo's service with CTI credentials (the demo has three: agent01,
    agent201, manager01; more are created as cti01, cti02, …, password-less). Returns the service's CTI IDs.
    Idempotent; the caller commits."""
    org = db.session.scalars(select(Organization).where(Organization.domain == DEMO_DOMAIN)).one()
    service = db.session.scalars(select(Service).where(Service.organization_id == org.id,
                                                       Service.service_key == service_key)).one()
    actor = Actor(org.id, None)

    def cti_ids() -> list[str]:
        return list(db.session.scalars(select(CtiAgent.cti_id).join(
            ServiceMember, ServiceMember.member_id == CtiAgent.member_id).where(
            ServiceMember.service_id == service.id, ServiceMember.can_phone.is_(True)).order_by(CtiAgent.cti_id)))

    have = cti_ids()
    n = db.session.scalar(select(func.count()).select_from(Member).where(
        Member.organization_id == org.id, Member.login_id.like("cti%")))
    for _ in range(count - len(have)):
        n += 1
        member = create_member(org.id, login_id=f"cti{n:02d}", name=f"CTI agent {n}", email=f"cti{n:02d}@demo.example")
        add_service_member(actor, service, member, ServiceRole.agent, ticket=True, phone=True)
        cti.set_credentials(actor, member, cti_id=f"cti{n:02d}", cti_number=str(8000 + n))
    return cti_ids()
