"""A fresh web process has built its pages' parts before the first request (portal.warm_up), and the Procfile's web
process (gunicorn --preload: the app built and warmed once in the master) serves from both its workers, each with
database connections of its own."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from portal import create_app
from tests.conftest import CSRF_RE, REDIS_URL, make_test_config
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def test_a_warmed_up_app_has_its_templates_compiled_and_serves_its_pages(database_url, make):
    org = make.org(domain="warm")
    app = create_app({**make_test_config(database_url), "WARM_UP": True})
    templates = [name for name in app.jinja_env.list_templates() if name.endswith(".html")]
    assert len(app.jinja_env.cache) >= len(templates)  # compiled before any request asked for them
    client = app.test_client()
    for language in ("ko", "en"):
        assert client.get("/login", headers={"Accept-Language": language}).status_code == 200
    page = client.get("/login").get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert client.post("/login", data={"csrf_token": match.group(1) or match.group(2), "organization": org.domain,
                                       "login_id": "admin", "password": PASSWORD}).status_code == 303
    new_service = client.get("/admin/services/new")
    assert new_service.status_code == 200
    assert "日本語" in new_service.get_data(as_text=True)  # the help-center languages, each named in itself
    assert client.get("/admin/company-info").status_code == 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_procfiles_web_process_serves_from_every_preloaded_worker(database_url, make, tmp_path):
    org = make.org(domain="preload")
    web = next(line.split(":", 1)[1] for line in (ROOT / "Procfile").read_text().splitlines()
               if line.startswith("web:"))
    port = free_port()
    env = {**os.environ, "PORT": str(port), "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
           "RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_ENABLED": "0", "PASSWORD_HASH_PROFILE": "fast",
           "PORTAL_DOTENV": "/dev/null", "MAIL_SERVER": "", "SECRET_KEY": "preload-test"}
    log = tmp_path / "web.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(web.replace(".venv/bin/", f"{VENV_BIN}/"), shell=True, cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)

        def session_of_an_admin(_) -> tuple[int, ...]:
            with requests.Session() as http:
                page = http.get(f"{base}/login").text
                match = CSRF_RE.search(page)
                logged_in = http.post(f"{base}/login", allow_redirects=False, data={
                    "csrf_token": match.group(1) or match.group(2), "organization": org.domain, "login_id": "admin",
                    "password": PASSWORD})
                pages = [http.get(f"{base}{path}", allow_redirects=False)
                         for path in ("/admin/company-info", "/admin/services/new") * 3]
                return (logged_in.status_code, *(p.status_code for p in pages))

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(session_of_an_admin, range(16)))
        assert answers == [(303, *[200] * 6)] * 16, log.read_text()[-3000:]
        workers = set(re.findall(r"Booting worker with pid: (\d+)", log.read_text()))
        assert len(workers) == 2 and process.poll() is None, log.read_text()[-3000:]
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
