"""A service's banner in a real browser: the public help center shows a wide banner at its own aspect ratio (it was
cropped into a 40 px square), on a desktop and at phone width, in Korean and in English; the contract status list,
where the image stands for the service like an avatar, still crops it to a small circle."""
from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_smoke import log_in


def wide_banner() -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (640, 160), (30, 110, 200))
    for x in range(0, 640, 80):  # stripes, so a crop would show
        image.paste((240, 180, 40), (x, 0, x + 40, 160))
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def bannered(app, demo):
    """The demo's support desk with a 640×160 banner."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Organization, Service
    from portal.services import Actor, contracts

    with app.test_request_context("/"):
        org = db.session.scalars(select(Organization).filter_by(domain="demo")).one()
        service = db.session.scalars(select(Service).filter_by(organization_id=org.id, service_key="support")).one()
        contracts.update_basic_info(
            Actor(org.id, None), service, revision=service.revision, name=service.name, type=service.type,
            languages=[lang.code for lang in service.languages], default_language=service.default_language,
            time_zone=service.time_zone, editor_type=service.editor_type, banner=("wide.png", wide_banner()))
        db.session.commit()
    return demo


def rendered_ratio(img) -> float:
    img.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    box = img.bounding_box()
    return box["width"] / box["height"]


@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("width", [1280, 390])
def test_the_help_center_shows_the_banner_at_its_aspect_ratio(browser: Browser, live_server, bannered, shot,
                                                              lang, width):
    context = browser.new_context(locale="ko-KR", viewport={"width": width, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server}/hc/demo/support/{lang}/")
        banner = page.locator(".hc-brand img")
        expect(banner).to_be_visible()
        assert abs(rendered_ratio(banner) - 4) < 0.05, banner.bounding_box()
        assert banner.evaluate("img => getComputedStyle(img).objectFit") != "cover"
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        expect(page.locator(".hc-brand")).to_contain_text("고객지원센터")
        shot(page, f"helpcenter-banner-{lang}-{width}")
    finally:
        context.close()


def test_the_contract_list_keeps_the_banner_as_a_round_avatar(page: Page, live_server, bannered):
    log_in(page, live_server, bannered, "admin")
    avatar = page.locator("tr#service-support img.avatar")
    expect(avatar).to_be_visible()
    assert abs(rendered_ratio(avatar) - 1) < 0.05
    assert avatar.evaluate("img => getComputedStyle(img).objectFit") == "cover"
