"""The public help center (no login): /hc/<org domain>/<service id>/<lang>/ with terms and privacy pages."""
from __future__ import annotations

import hashlib
from zoneinfo import ZoneInfo

from flask import Response, abort, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale
from sqlalchemy import select

from portal.access import public
from portal.blueprints.helpcenter import bp
from portal.downloads import stored_image
from portal.extensions import db
from portal.models import Organization, Service, ServiceStatus
from portal.services.catalog import language_codes, language_name
from portal.services.company_info import footer_for
from portal.services.storage import load

PAGES = ("home", "terms", "privacy")
UI_LOCALES = ("ko", "en")


def _not_found(reason: str, *, service: Service | None = None, lang: str = "en"):
    with force_locale(lang if lang in UI_LOCALES else "en"):
        html = render_template("helpcenter/unavailable.html", reason=reason, service=service,
                               lang=lang if lang in UI_LOCALES else "en")
    return make_response(html, 404)


def _load(domain: str, service_key: str, lang: str | None = None) -> tuple[Organization, Service] | Response:
    org = db.session.scalars(select(Organization).where(Organization.domain == domain.lower())).first()
    service = None
    if org is not None:
        service = db.session.scalars(select(Service).where(Service.organization_id == org.id,
                                                           Service.service_key == service_key)).first()
    if service is None or service.status == ServiceStatus.draft:
        return _not_found("unknown")
    if service.status != ServiceStatus.active:
        return _not_found("closed", service=service, lang=lang or service.default_language or "en")
    return org, service


def best_language(service: Service) -> str:
    offered = [lang.code for lang in service.languages]
    # Accept-Language says zh-TW; the help center says zh_TW.
    normalized = {code.replace("_", "-").lower(): code for code in offered}
    for tag, _quality in request.accept_languages:
        tag = tag.lower()
        if tag in normalized:
            return normalized[tag]
        if tag.split("-")[0] in normalized:
            return normalized[tag.split("-")[0]]
    return service.default_language or offered[0]


@bp.get("/<domain>/<service_key>/")
@public
def entry(domain: str, service_key: str):
    loaded = _load(domain, service_key)
    if isinstance(loaded, Response):
        return loaded
    _org, service = loaded
    response = redirect(url_for("helpcenter.page", domain=domain, service_key=service_key, lang=best_language(service)))
    response.vary.add("Accept-Language")
    return response


@bp.get("/<domain>/<service_key>/switch")
@public
def switch(domain: str, service_key: str):
    """The language drop-down without JavaScript: keeps the page, changes the language."""
    page = request.args.get("page", "home")
    lang = request.args.get("lang", "")
    return redirect(_page_url(domain, service_key, lang, page if page in PAGES else "home"))


def _page_url(domain: str, service_key: str, lang: str, page: str) -> str:
    if page == "home":
        return url_for("helpcenter.page", domain=domain, service_key=service_key, lang=lang)
    return url_for("helpcenter.document", domain=domain, service_key=service_key, lang=lang, kind=page)


@bp.get("/<domain>/<service_key>/<lang>/")
@public
def page(domain: str, service_key: str, lang: str):
    return _render(domain, service_key, lang, "home")


@bp.get("/<domain>/<service_key>/<lang>/<any(terms, privacy):kind>")
@public
def document(domain: str, service_key: str, lang: str, kind: str):
    return _render(domain, service_key, lang, kind)


def _render(domain: str, service_key: str, lang: str, kind: str):
    loaded = _load(domain, service_key, lang)
    if isinstance(loaded, Response):
        return loaded
    org, service = loaded
    offered = [language.code for language in service.languages]
    if lang not in language_codes():
        return _not_found("language", service=service, lang=service.default_language or "en")
    if lang not in offered:
        return redirect(_page_url(domain, service_key, service.default_language, kind))
    info = footer_for(service, lang)
    zone = ZoneInfo(service.time_zone)
    etag = hashlib.sha256(repr((service.id, service.revision, service.name, offered, info.id if info else None,
                                info.updated_at.isoformat() if info else None, lang, kind)).encode()).hexdigest()[:32]
    if request.if_none_match and etag in request.if_none_match:
        response = Response(status=304)
        response.set_etag(etag)
        return response
    ui = lang if lang in UI_LOCALES else "en"
    with force_locale(ui):
        html = render_template(
            "helpcenter/page.html", org=org, service=service, lang=lang, ui=ui, kind=kind, info=info,
            languages=[(code, language_name(code)) for code in offered], zone=zone,
            updated=info.updated_at.astimezone(zone) if info else None, page_url=_page_url,
        )
    response = make_response(html)
    response.set_etag(etag)
    if info is not None:
        response.last_modified = info.updated_at
    # Revalidate every time: a repeat visit costs a 304, and a change (or a suspension) shows at once.
    response.cache_control.public = True
    response.cache_control.no_cache = True
    response.vary.add("Accept-Encoding")
    return response.make_conditional(request)


@bp.get("/<domain>/<service_key>/banner")
@public
def banner(domain: str, service_key: str):
    loaded = _load(domain, service_key)
    if isinstance(loaded, Response) or not loaded[1].banner_file_id:
        abort(404)
    stored = load(loaded[1].organization_id, loaded[1].banner_file_id)
    if stored is None:
        abort(404)
    return stored_image(stored, public=True)
