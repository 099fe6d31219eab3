"""Company info (회사정보 관리) and applying it to help-center footers (반영).

Terms and privacy policy are Markdown; they are rendered and then sanitized with nh3 (an allow-list
HTML sanitizer), so scripts, event handlers and `javascript:` links never reach a visitor."""
from __future__ import annotations

import re

import nh3
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from markdown_it import MarkdownIt
from sqlalchemy import select

from portal.extensions import db
from portal.models import CompanyInfo, HelpCenterFooter, Service
from portal.models.base import utcnow
from portal.services import Actor, ServiceError, activity
from portal.services.catalog import language_codes

ALLOWED_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "s", "code",
                "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
LIMITS = {"title": 100, "company_name": 100, "representative": 100, "address": 300, "business_number": 32,
          "phone": 32, "email": 254, "trademark": 300, "terms_md": 50_000, "privacy_md": 50_000}
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-()]{2,31}$")
BUSINESS_RE = re.compile(r"^[0-9][0-9\-]{2,31}$")
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str | None) -> str:
    """Markdown to HTML, then through the allow-list: only harmless tags, and links only to http(s)/mailto."""
    if not text:
        return ""
    html = _markdown.render(text)
    # The page has its own <h1>; the document's headings sit one level below it.
    for level in range(5, 0, -1):
        html = html.replace(f"<h{level}>", f"<h{level + 1}>").replace(f"</h{level}>", f"</h{level + 1}>")
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow")


def _clean(values: dict) -> dict:
    cleaned = {key: (values.get(key) or "").strip() for key in LIMITS}
    cleaned["language"] = (values.get("language") or "").strip()
    for key, limit in LIMITS.items():
        if len(cleaned[key]) > limit:
            raise ServiceError(_("At most %(n)s characters.", n=f"{limit:,}"), key)  # said at the field
    if not cleaned["title"]:
        raise ServiceError(_("Enter a title."), "title")
    if not cleaned["company_name"]:
        raise ServiceError(_("Enter the company name."), "company_name")
    if cleaned["language"] not in language_codes():
        raise ServiceError(_("Choose a help-center language."), "language")
    if cleaned["email"]:
        try:
            cleaned["email"] = validate_email(cleaned["email"], check_deliverability=False).normalized
        except EmailNotValidError:
            raise ServiceError(_("Enter a valid e-mail address."), "email") from None
    if cleaned["phone"] and not PHONE_RE.match(cleaned["phone"]):
        raise ServiceError(_("A phone number has digits, spaces, +, - and brackets only."), "phone")
    if cleaned["business_number"] and not BUSINESS_RE.match(cleaned["business_number"]):
        raise ServiceError(_("A business registration number has digits and hyphens only."), "business_number")
    return cleaned


def _store(entry: CompanyInfo, cleaned: dict) -> None:
    for key, value in cleaned.items():
        setattr(entry, key, value or None if key not in ("title", "company_name", "language") else value)
    entry.terms_html = render_markdown(cleaned["terms_md"])
    entry.privacy_html = render_markdown(cleaned["privacy_md"])
    entry.updated_at = utcnow()


def create(actor: Actor, values: dict) -> CompanyInfo:
    entry = CompanyInfo(organization_id=actor.organization_id)
    _store(entry, _clean(values))
    db.session.add(entry)
    db.session.flush()
    _log(actor, "company_info.created", entry)
    return entry


def update(actor: Actor, entry: CompanyInfo, values: dict) -> CompanyInfo:
    _store(entry, _clean(values))
    db.session.flush()
    _log(actor, "company_info.updated", entry)
    return entry


def services_applying(entry: CompanyInfo) -> list[Service]:
    return list(db.session.scalars(
        select(Service).join(HelpCenterFooter, HelpCenterFooter.service_id == Service.id)
        .where(HelpCenterFooter.company_info_id == entry.id).distinct().order_by(Service.name)))


def delete(actor: Actor, entry: CompanyInfo) -> None:
    """Refused while a help center shows it (the message lists those services)."""
    users = services_applying(entry)
    if users:
        raise ServiceError(_("%(title)s is applied to %(services)s. Apply another entry there first.",
                             title=entry.title, services=", ".join(s.name for s in users)), "in_use")
    _log(actor, "company_info.deleted", entry)
    db.session.delete(entry)
    db.session.flush()


def apply(actor: Actor, service: Service, language: str, entry: CompanyInfo | None) -> None:
    """Show `entry` in the footer of the service's help center in `language` (None: use the default's)."""
    if language not in {lang.code for lang in service.languages}:
        raise ServiceError(_("%(name)s has no help center in %(lang)s.", name=service.name, lang=language), "language")
    if entry is not None and entry.organization_id != service.organization_id:
        raise ServiceError(_("Unknown company info."), "foreign")
    footer = db.session.scalars(select(HelpCenterFooter).where(
        HelpCenterFooter.service_id == service.id, HelpCenterFooter.language == language)).first()
    if entry is None:
        if footer is not None:
            db.session.delete(footer)
    elif footer is None:
        db.session.add(HelpCenterFooter(organization_id=service.organization_id, service_id=service.id,
                                        language=language, company_info_id=entry.id, updated_at=utcnow()))
    else:
        footer.company_info_id, footer.updated_at = entry.id, utcnow()
    db.session.flush()
    activity.record(actor.organization_id, actor.member_id, "help_center.footer_applied", subject_type="service",
                    subject_id=service.id, subject_label=service.name,
                    details={"language": language, "company_info_id": entry.id if entry else None}, ip=actor.ip)


def footers_of(service_ids: list[int]) -> dict[tuple[int, str], int]:
    if not service_ids:
        return {}
    return {(f.service_id, f.language): f.company_info_id for f in db.session.scalars(
        select(HelpCenterFooter).where(HelpCenterFooter.service_id.in_(service_ids)))}


def footer_for(service: Service, language: str) -> CompanyInfo | None:
    """The entry applied for `language`, else the one applied for the service's default language."""
    for lang in (language, service.default_language):
        entry = db.session.scalars(
            select(CompanyInfo).join(HelpCenterFooter, HelpCenterFooter.company_info_id == CompanyInfo.id)
            .where(HelpCenterFooter.service_id == service.id, HelpCenterFooter.language == lang)).first()
        if entry is not None:
            return entry
    return None


def _log(actor: Actor, action: str, entry: CompanyInfo) -> None:
    activity.record(actor.organization_id, actor.member_id, action, subject_type="company_info",
                    subject_id=entry.id, subject_label=entry.title, ip=actor.ip)
