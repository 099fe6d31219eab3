"""Factories that write committed rows in their own app context and hand back detached, loaded objects,
so a test never shares a session (and its identity map) with the requests it makes."""
from __future__ import annotations

import itertools
from typing import Any

from portal.extensions import db
from portal.models import Member, Organization, Service, ServiceRole, ServiceStatus, ServiceType
from portal.services.accounts import create_member
from portal.services.organizations import provision_organization
from portal.services import Actor
from portal.services.permissions import add_service_member
from portal.services.service_setup import create_service

PASSWORD = "test-pass-1234"
_seq = itertools.count(1)


def _detach(*objects: Any) -> None:
    for obj in objects:
        db.session.refresh(obj)
        db.session.expunge(obj)


def png_bytes(size=(8, 8), color=(31, 95, 191), fmt="PNG") -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


class Factories:
    def __init__(self, app):
        self.app = app

    def org(self, domain: str | None = None, name: str | None = None, admin_login: str = "admin") -> Organization:
        n = next(_seq)
        with self.app.app_context():
            done = provision_organization(
                name=name or f"Org {n}", domain=domain or f"org{n}", admin_login=admin_login,
                admin_email=f"{admin_login}{n}@example.com", admin_name=f"Admin {n}", password=PASSWORD,
            )
            db.session.commit()
            _detach(done.organization)
            return done.organization

    def admin_of(self, org: Organization) -> Member:
        with self.app.app_context():
            member = db.session.scalars(
                db.select(Member).filter_by(organization_id=org.id, is_org_admin=True).order_by(Member.id)
            ).first()
            _detach(member)
            return member

    def member(self, org: Organization, login_id: str | None = None, *, name: str | None = None,
               is_org_admin: bool = False, password: str | None = PASSWORD, **fields) -> Member:
        n = next(_seq)
        login_id = login_id or f"member{n}"
        with self.app.app_context():
            member = create_member(
                org.id, login_id=login_id, name=name or f"Member {n}", email=f"{login_id}.{n}@example.com",
                password=password, is_org_admin=is_org_admin,
            )
            for key, value in fields.items():
                setattr(member, key, value)
            db.session.commit()
            _detach(member)
            return member

    def service(self, org: Organization, key: str | None = None, *, name: str | None = None,
                status: ServiceStatus = ServiceStatus.active, languages=("ko",), banner: bool = False,
                auto_assign: bool = False) -> Service:
        """A service; automatic assignment off unless asked (tests of hand assignment stay what they say)."""
        n = next(_seq)
        key = key or "svc" + "".join(chr(ord("a") + int(d)) for d in str(n))
        with self.app.app_context():
            service = create_service(
                org.id, service_key=key, name=name or f"Service {n}", type=ServiceType.counseling,
                languages=list(languages), default_language=languages[0], status=status,
            )
            service.auto_assign = auto_assign
            if banner:
                from portal.services.storage import store

                service.banner_file_id = store(org.id, purpose="service_banner", filename="b.png",
                                               content_type="image/png", data=png_bytes()).id
            db.session.commit()
            _detach(service)
            return service

    def place(self, service: Service, member: Member, role: str = "agent", *, ticket=True, chat=True, phone=True):
        with self.app.app_context():
            link = add_service_member(
                Actor(service.organization_id, None), db.session.get(Service, service.id),
                db.session.get(Member, member.id), ServiceRole(role), ticket=ticket, chat=chat, phone=phone,
            )
            db.session.commit()
            _detach(link)
            return link
