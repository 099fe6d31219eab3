"""The main flow in a real browser: log in as the demo admin, switch the language both ways."""
import re

from playwright.sync_api import Page, expect


def log_in(page: Page, base: str, demo: dict, login_id: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label(re.compile("조직 도메인|Organization domain")).fill(demo["domain"])
    page.get_by_label(re.compile("로그인 ID|Login ID")).fill(login_id)
    page.get_by_label(re.compile("^(비밀번호|Password)$")).fill(demo["password"])
    page.get_by_role("button", name=re.compile("^(로그인|Log in)$")).click()


def test_admin_logs_in_and_switches_language_both_ways(page: Page, live_server, demo, shot, axe_check):
    page.goto(f"{live_server}/login")
    expect(page).to_have_title(re.compile("로그인"))
    axe_check(page, "login page (ko)")
    shot(page, "login-ko")

    log_in(page, live_server, demo, "admin")
    expect(page).to_have_url(re.compile("/admin/services$"))
    menu = page.get_by_role("navigation", name="전체 관리")
    expect(menu.get_by_role("link", name="계약 서비스 현황")).to_have_attribute("aria-current", "page")
    for label in ("조직관리자", "회사정보 관리", "CTI 관리", "권한 변경 로그 관리", "데이터 이관"):
        expect(menu.get_by_role("link", name=label)).to_be_visible()
    expect(page.get_by_role("link", name="서비스 추가")).to_be_visible()
    axe_check(page, "layout (ko)")
    shot(page, "layout-ko")

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile("/admin/services$"))
    expect(page.get_by_role("navigation", name="Global management").get_by_role("link", name="Contracted services")).to_be_visible()
    axe_check(page, "layout (en)")
    shot(page, "layout-en")

    # The choice is the member's: it follows them to another page.
    page.get_by_role("link", name="Org admins").click()
    expect(page.get_by_role("heading", name="Org admins")).to_be_visible()

    page.get_by_role("button", name="한국어").click()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_role("heading", name="조직관리자")).to_be_visible()


def test_account_menu_opens_and_logs_out(page: Page, live_server, demo, shot):
    log_in(page, live_server, demo, "agent")
    expect(page).to_have_url(re.compile(r"/workspace/support$"))
    menu = page.locator("details.account-menu")
    menu.locator("summary").click()
    expect(menu.get_by_role("link", name="My 실적")).to_be_visible()
    expect(menu.get_by_role("link", name="개인정보설정")).to_be_visible()
    shot(page, "agent-workspace-menu-ko")
    page.get_by_role("button", name="로그아웃").click()
    expect(page).to_have_url(re.compile("/login"))
    expect(page.get_by_text("로그아웃되었습니다.")).to_be_visible()


def test_agent_switches_the_current_service(page: Page, live_server, demo):
    log_in(page, live_server, demo, "agent")
    expect(page).to_have_url(re.compile(r"/workspace/support$"))
    page.get_by_label("서비스").select_option(label="쇼핑몰 상담")
    expect(page).to_have_url(re.compile(r"/workspace/shop$"))
    expect(page.get_by_role("heading", name=re.compile("쇼핑몰 상담"))).to_be_visible()
    page.goto(f"{live_server}/")
    expect(page).to_have_url(re.compile(r"/workspace/shop$"))


def test_wrong_password_shows_the_message_in_place(page: Page, live_server, demo):
    page.goto(f"{live_server}/login")
    page.get_by_label("조직 도메인").fill("demo")
    page.get_by_label("로그인 ID").fill("admin")
    page.get_by_label("비밀번호").fill("not-the-password-1")
    page.get_by_role("button", name="로그인").click()
    expect(page.get_by_role("alert")).to_have_text("조직, 로그인 ID 또는 비밀번호가 올바르지 않습니다.")
