"""Company info and the public help center."""
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import CompanyInfo, Service, ServiceStatus
from portal.services.company_info import render_markdown
from tests.conftest import csrf_token

EN = {"Accept-Language": "en"}
XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<iframe src=\"https://evil.example\"></iframe>",
    "\"><script>alert(1)</script>",
    "<body onload=alert(1)>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<a href=\"&#106;avascript:alert(1)\">x</a>",
    "<details open ontoggle=alert(1)>",
]
FORBIDDEN_TAGS = {"script", "iframe", "svg", "math", "style", "img", "body", "details", "object", "embed", "form"}


def dangers(html: str) -> list[str]:
    """What in this HTML a browser would run: forbidden elements, event handlers, styles, unsafe URLs.
    Text that merely looks like markup (escaped) is harmless and not reported."""
    from html.parser import HTMLParser

    found = []

    class Check(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in FORBIDDEN_TAGS:
                found.append(f"<{tag}>")
            for name, value in attrs:
                if name.startswith("on") or name == "style":
                    found.append(f"{tag}[{name}]")
                if name in ("href", "src") and value and not value.strip().lower().startswith(("http:", "https:", "mailto:", "/", "tel:", "#")):
                    found.append(f"{tag}[{name}={value}]")

    Check().feed(html)
    return found


@pytest.fixture
def hc(make, login_as, app):
    org = make.org(domain="acme", name="Acme")
    service = make.service(org, "help", name="Acme Help", languages=("ko", "en"))
    client = login_as(make.admin_of(org))
    return {"org": org, "service": service, "client": client}


def _entry(client, **values):
    data = {"csrf_token": csrf_token(client, "/admin/company-info"), "title": "KR footer", "language": "ko",
            "company_name": "에이크미 주식회사", "representative": "김대표", "address": "서울시 중구 1",
            "business_number": "123-45-67890", "phone": "02-1234-5678", "email": "help@acme.example",
            "trademark": "© 2026 Acme", "terms_md": "# 이용약관\n\n제1조 **목적**", "privacy_md": "개인정보 처리방침", **values}
    return client.post("/admin/company-info/new", data=data, headers=EN)


def _apply(client, lang, entry_id):
    return client.post("/admin/company-info/apply", data={
        "csrf_token": csrf_token(client, "/admin/company-info"), "service": "help", "language": lang,
        "company_info_id": str(entry_id or "")})


def _ids(app):
    with app.app_context():
        return {e.title: e.id for e in db.session.scalars(select(CompanyInfo))}


def test_each_language_shows_its_own_footer_and_falls_back_to_the_default(hc, app):
    c = hc["client"]
    _entry(c)
    _entry(c, title="EN footer", language="en", company_name="Acme Inc.", terms_md="# Terms\n\nArticle 1")
    ids = _ids(app)
    _apply(c, "ko", ids["KR footer"])
    visitor = app.test_client()
    en_before = visitor.get("/hc/acme/help/en/").get_data(as_text=True)
    assert "에이크미 주식회사" in en_before  # no English entry applied yet: the default language's
    _apply(c, "en", ids["EN footer"])
    ko = visitor.get("/hc/acme/help/ko/").get_data(as_text=True)
    en = visitor.get("/hc/acme/help/en/").get_data(as_text=True)
    assert '<html lang="ko">' in ko and "에이크미 주식회사" in ko and "123-45-67890" in ko and "이용약관" in ko
    assert '<html lang="en">' in en and "Acme Inc." in en and "Terms of use" in en and 'name="description"' in en
    terms = visitor.get("/hc/acme/help/en/terms").get_data(as_text=True)
    assert "<h2>Terms</h2>" in terms and "Article 1" in terms and "(Asia/Seoul)" in terms
    assert terms.count("<h1>") == 1  # the page's own heading; the document's sit below it


def test_the_entry_redirects_to_the_visitors_best_language(hc, app):
    visitor = app.test_client()
    assert visitor.get("/hc/acme/help/", headers={"Accept-Language": "en-US,en;q=0.9"}).headers["Location"] == "/hc/acme/help/en/"
    assert visitor.get("/hc/acme/help/", headers={"Accept-Language": "fr"}).headers["Location"] == "/hc/acme/help/ko/"
    assert visitor.get("/hc/acme/help/ja/").headers["Location"] == "/hc/acme/help/ko/"  # known, not offered
    assert visitor.get("/hc/acme/help/ja/terms").headers["Location"] == "/hc/acme/help/ko/terms"
    switched = visitor.get("/hc/acme/help/switch?lang=en&page=privacy")
    assert switched.headers["Location"] == "/hc/acme/help/en/privacy"


@pytest.mark.parametrize("path", ["/hc/nope/help/ko/", "/hc/acme/nope/ko/", "/hc/acme/help/xx/", "/hc/nope/help/"])
def test_unknown_places_get_a_helpful_404(hc, app, path):
    response = app.test_client().get(path)
    assert response.status_code == 404 and "<h1>" in response.get_data(as_text=True)


@pytest.mark.parametrize("status", [ServiceStatus.suspended, ServiceStatus.terminated, ServiceStatus.draft])
def test_closed_and_draft_services_are_not_public(hc, app, status):
    with app.app_context():
        db.session.get(Service, hc["service"].id).status = status
        db.session.commit()
    response = app.test_client().get("/hc/acme/help/ko/")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    if status == ServiceStatus.draft:
        assert "Acme Help" not in body  # a draft does not even admit it exists
    else:
        assert "Acme Help" in body


def test_repeated_visits_are_answered_from_the_etag(hc, app):
    _entry(hc["client"])
    _apply(hc["client"], "ko", _ids(app)["KR footer"])
    visitor = app.test_client()
    first = visitor.get("/hc/acme/help/ko/")
    assert first.status_code == 200 and first.headers["ETag"] and "public" in first.headers["Cache-Control"]
    assert "no-cache" in first.headers["Cache-Control"]  # revalidated each visit, so changes show at once
    again = visitor.get("/hc/acme/help/ko/", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    hc["client"].post(f"/admin/company-info/{_ids(app)['KR footer']}", data={
        "csrf_token": csrf_token(hc["client"], "/admin/company-info"), "title": "KR footer", "language": "ko",
        "company_name": "새 이름"})
    changed = visitor.get("/hc/acme/help/ko/", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and "새 이름" in changed.get_data(as_text=True)


@pytest.mark.parametrize("payload", XSS)
def test_xss_payloads_never_survive_markdown(payload):
    html = render_markdown(payload)
    assert dangers(html) == [], html


def test_xss_in_every_field_is_escaped_on_the_public_page(hc, app):
    payload = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    c = hc["client"]
    response = _entry(c, title=payload[:100], company_name=payload[:100], representative=payload[:100],
                      address=payload, trademark=payload, terms_md="\n\n".join(XSS), privacy_md=payload, phone="",
                      business_number="", email="")
    assert response.status_code == 303
    _apply(c, "ko", next(iter(_ids(app).values())))
    visitor = app.test_client()
    for path in ("/hc/acme/help/ko/", "/hc/acme/help/ko/terms", "/hc/acme/help/ko/privacy"):
        body = visitor.get(path).get_data(as_text=True)
        assert dangers(body.split("</header>", 1)[1]) == [], path  # what visitors' entries fill
        assert "&lt;script&gt;" in body or path.endswith("terms")  # shown as text, not run
    admin_page = c.get("/admin/company-info").get_data(as_text=True)
    assert dangers(admin_page.split('id="company-info"', 1)[1]) == []


@pytest.mark.parametrize("values, message", [
    ({"title": ""}, "Enter a title."),
    ({"company_name": ""}, "Enter the company name."),
    ({"language": "xx"}, "Choose a help-center language."),
    ({"email": "nope"}, "Enter a valid e-mail address."),
    ({"phone": "call us"}, "A phone number has digits"),
    ({"business_number": "ABC"}, "A business registration number has digits and hyphens only."),
    ({"address": "x" * 301}, "At most 300 characters."),
])
def test_bad_company_info_is_refused_at_its_field(hc, app, values, message):
    response = _entry(hc["client"], **values)
    field = next(iter(values))
    assert response.status_code == 422
    assert re.search(rf'<p class="field-error" role="alert" id="ci-{field}-error">{re.escape(message)}',
                     response.get_data(as_text=True))
    assert _ids(app) == {}


def test_an_applied_entry_cannot_be_deleted_until_replaced(hc, app):
    c = hc["client"]
    _entry(c)
    entry_id = _ids(app)["KR footer"]
    _apply(c, "ko", entry_id)
    c.post(f"/admin/company-info/{entry_id}/delete", data={"csrf_token": csrf_token(c, "/admin/company-info")}, headers=EN)
    page = c.get("/admin/company-info", headers=EN).get_data(as_text=True)
    assert "is applied to Acme Help" in page and _ids(app) == {"KR footer": entry_id}
    _apply(c, "ko", None)
    c.post(f"/admin/company-info/{entry_id}/delete", data={"csrf_token": csrf_token(c, "/admin/company-info")})
    assert _ids(app) == {}


def test_applying_to_a_language_the_service_lacks_is_refused(hc, app):
    c = hc["client"]
    _entry(c)
    c.post("/admin/company-info/apply", headers=EN, data={
        "csrf_token": csrf_token(c, "/admin/company-info"), "service": "help", "language": "ja",
        "company_info_id": str(_ids(app)["KR footer"])})
    assert "has no help center in" in c.get("/admin/company-info/apply", headers=EN).get_data(as_text=True)


def test_another_organizations_entry_cannot_be_applied(hc, app, make, login_as):
    other = make.org(domain="other")
    with app.app_context():
        foreign = CompanyInfo(organization_id=other.id, title="theirs", language="ko", company_name="X")
        db.session.add(foreign)
        db.session.commit()
        foreign_id = foreign.id
    assert _apply(hc["client"], "ko", foreign_id).status_code == 404
