"""First requests of a fresh web process (see bench/README.md, "First requests").

A freshly migrated database (a SQLite file in a temp dir, or a PostgreSQL URL given with --db, which is emptied:
give a throwaway one) with the demo (`seed_demo`). Then, --rounds times (2) for each way of starting the web
process, a fresh `gunicorn --workers 1` (one worker: every first hit lands on the same fresh process), left until
its worker has loaded the app and gone idle; then, one client with a session, in this order and each page twice:
GET /login (Korean), POST /login as the demo's admin, GET /admin/services/new, GET /admin/company-info. The second
hit of a page is its warm time, the floor of its first.

- lazy: `gunicorn app:app`, as the Procfile ran it before — everything built by the requests that need it;
- Procfile: `PORTAL_WARM_UP=1 gunicorn --preload app:app`, as the Procfile runs it now — built and warmed in the
  master, inherited by the worker.

Printed: each first hit, its warm time and the ratio, and the time from start until the worker was ready. The
target: no first hit over 100 ms (the warm pages take 5–50 ms on this machine). Never asserted.

    .venv/bin/python bench/first_requests.py
    .venv/bin/python bench/first_requests.py --db postgresql+psycopg://postgres@127.0.0.1:5433/throwaway
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PORTAL_DOTENV", "/dev/null")

from bench.migration import VENV_BIN, fresh_schema, make_app, worker_env  # noqa: E402

PASSWORD = "demo-pass-1234"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PAGES = ("/admin/services/new", "/admin/company-info")
TARGET_MS = 100
MODES = {"lazy": ([], {}), "Procfile": (["--preload"], {"PORTAL_WARM_UP": "1"})}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_ready(log: Path, process: subprocess.Popen, timeout: float = 180) -> int:
    """The worker's pid, once it has booted and its CPU stood still for half a second (the app loaded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited: {log.read_text()[-2000:]}")
        found = re.findall(r"Booting worker with pid: (\d+)", log.read_text())
        if found:
            pid, last, still = int(found[-1]), -1, 0
            while time.monotonic() < deadline:
                ticks = cpu_ticks(pid)
                still = still + 1 if ticks == last else 0
                if still >= 5:
                    return pid
                last = ticks
                time.sleep(0.1)
        time.sleep(0.05)
    sys.exit(f"gunicorn not ready after {timeout} s: {log.read_text()[-2000:]}")


def one_round(mode: str, database_url: str, redis_url: str, workdir: Path) -> dict:
    options, extra_env = MODES[mode]
    port, log = free_port(), workdir / f"gunicorn-{mode}-{time.monotonic_ns()}.log"
    env = {**worker_env(database_url, redis_url), "RATELIMIT_ENABLED": "0"}
    env.pop("PORTAL_WARM_UP", None)
    env.update(extra_env)
    started = time.perf_counter()
    with open(log, "ab") as out:
        process = subprocess.Popen([str(VENV_BIN / "gunicorn"), *options, "--workers", "1", "--bind",
                                    f"127.0.0.1:{port}", "app:app"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(log, process)
        ready_s = time.perf_counter() - started - 0.5  # less the half second of standing still
        base, times = f"http://127.0.0.1:{port}", {}
        with requests.Session() as http:
            http.headers["Accept-Language"] = "ko"

            def timed(label: str, method: str, path: str, **kwargs) -> requests.Response:
                t = time.perf_counter()
                response = http.request(method, f"{base}{path}", allow_redirects=False, timeout=60, **kwargs)
                times.setdefault(label, []).append((time.perf_counter() - t) * 1000)
                return response

            page = timed("GET /login", "GET", "/login")
            timed("GET /login", "GET", "/login")
            token = CSRF_RE.search(page.text).group(1)
            answer = timed("POST /login", "POST", "/login", data={
                "csrf_token": token, "organization": "demo", "login_id": "admin", "password": PASSWORD})
            if answer.status_code != 303:
                sys.exit(f"log-in answered {answer.status_code}")
            for path in PAGES:
                for _ in range(2):
                    if timed(f"GET {path}", "GET", path).status_code != 200:
                        sys.exit(f"{path} did not answer 200")
        return {"ready_s": ready_s, "times": times}
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", help="'sqlite' (a temporary file) or a PostgreSQL URL to empty")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.disable(logging.INFO)
    workdir = Path(tempfile.mkdtemp(prefix="bench-first-requests-"))
    try:
        if args.db == "sqlite":
            url, backend = f"sqlite:///{workdir}/bench.db", "sqlite"
        else:
            from portal.config import _normalise_db_url

            url, backend = _normalise_db_url(args.db), "postgres"
        app = make_app(url, args.redis_url)
        fresh_schema(app)
        from portal.devtools.demo import seed_demo
        from portal.extensions import db

        with app.app_context():
            seed_demo(PASSWORD)
            db.session.commit()
            db.engine.dispose()
        results = [(mode, r, one_round(mode, url, args.redis_url, workdir))
                   for r in range(1, args.rounds + 1) for mode in MODES]
        print(f"\n{backend}: a fresh gunicorn --workers 1, first and second hit of each page\n")
        print("| start | round | ready after s | request | first ms | warm ms | first / warm | first < 100 ms |")
        print("|---|---:|---:|---|---:|---:|---:|---|")
        for mode, r, result in results:
            for label, (first, *warm) in result["times"].items():
                print(f"| {mode} | {r} | {result['ready_s']:.1f} | {label} | {first:.1f} | "
                      + (f"{warm[0]:.1f} | {first / warm[0]:.1f}" if warm else "(once) | ")
                      + f" | {'yes' if first < TARGET_MS else 'NO'} |")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
