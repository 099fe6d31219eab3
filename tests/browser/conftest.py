"""Browser tests: Playwright drives Debian's Chromium against the app served on loopback."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
# Without these, Chromium keeps trying to reach Google's hosts, which a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; scripts/test.sh installs Debian's chromium package")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def demo(app):
    """The demo organization, as `flask seed-demo` makes it."""
    from portal.extensions import db
    from portal.devtools.demo import seed_demo

    password = "demo-pass-1234"
    with app.app_context():
        seed_demo(password)
        db.session.commit()
    return {"domain": "demo", "password": password}


@pytest.fixture
def ui(app):
    """`ui(message, locale="ko", **params)` is the text the UI shows for that message in that language: tests take
    visible texts from the app's own catalog, so they follow the translations."""
    from flask_babel import force_locale, gettext

    def _ui(message: str, locale: str = "ko", **params) -> str:
        with app.test_request_context("/"), force_locale(locale):
            return gettext(message, **params)

    return _ui


@pytest.fixture
def shot():
    """`shot(page, name)` saves a full-page screenshot under test-artifacts/ for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _shot(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot


@pytest.fixture
def axe_check():
    """Run axe-core on the page; fail on any serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def _check(page, label: str) -> None:
        results = axe.run(page)
        bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
        details = "\n".join(
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}" for v in bad
        )
        assert not bad, f"accessibility violations on {label}:\n{details}"

    return _check


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # Korean is the product's home language; the tests switch to English through the UI.
    return {**browser_context_args, "locale": "ko-KR", "viewport": {"width": 1280, "height": 800}}


@pytest.fixture
def work(app):
    """`work()` runs the queued jobs in-process, as a worker would, until the queue is empty (there is no
    worker process beside the live server)."""
    from rq import SimpleWorker

    from portal.queue import get_queue, get_redis

    def _work() -> None:
        with app.app_context():
            SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)

    return _work
