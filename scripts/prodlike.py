"""The production-shaped run (issue 15): what the Procfile runs, on loopback, with failures on the way.

`scripts/prodlike.sh` starts PostgreSQL and Redis (no persistence) and runs this driver, which:

1. migrates, seeds the demo (`flask seed-demo`), gives CTI credentials to PRODLIKE_AGENTS agents, issues an
   organization API key and runs `flask jobs schedule`, as an operator deploying would;
2. starts two `gunicorn` web processes (2 workers each, two ports: a load balancer's backends) and two
   `rq worker -w jobs.worker.PortalWorker --with-scheduler` processes, under a small supervisor that starts again
   whatever dies (1 s later, like systemd's Restart=always);
3. sends the agents' CTI event streams (`portal.services.cti_simulator`: logins, calls that open tickets, state
   changes, logouts), most agents pinned to one web process, two through both (out of order), while it
   - uploads through web process 1 a migration file (batch A) and a small one (batch C, then confirmed: reserved
     for 01:00 tomorrow), and kills web process 2 (SIGKILL to its process group, as a crashed container);
   - confirms A, makes it due ("it is 01:00": its time and its RQ job moved to now), uploads A's file again
     (batch B), and kills with SIGKILL the worker applying A and the worker checking B, each with its work horse and
     scheduler process;
   - restarts Redis without persistence right after (its record of the killed jobs, the schedules, the scheduler
     lock and the queues are lost: the database must bring them back) while the rest of the CTI streams is sent;
   - waits until the check and the apply have resumed and finished, and the scheduler, every periodic job's next
     run and the pending runs (batch C's apply) are back; then kills the idle worker holding the scheduler lock and
     waits until the other takes it;
4. checks the invariants in the database and Redis and prints what happened, the recovery times and a report;
   exits 1 naming each invariant that failed (and, when a wait timed out, what it waited for).

Knobs (also as options): PRODLIKE_ROWS (rows of batches A and B, 30,000), PRODLIKE_CALLS (CTI calls, 150),
PRODLIKE_AGENTS (6), PRODLIKE_OUT_OF_ORDER (of them, agents whose events go through both web processes, 2),
PRODLIKE_TIMEOUT (seconds the recoveries may take after the worker kills, 240).
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import requests
from redis.exceptions import RedisError
from rq import Worker
from rq.job import Job
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, SCHEDULER_LOCKING_KEY_TEMPLATE
from sqlalchemy import func, or_, select, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's portal, whatever the virtualenv has installed

from bench.migration import generate  # noqa: E402  (here and below: this checkout's, now that sys.path says so)
from portal import create_app  # noqa: E402
from portal.devtools.demo import DEMO_DOMAIN, demo_cti_agents  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import (  # noqa: E402
    AgentStateInterval,
    BatchStatus,
    Call,
    CtiAgent,
    CtiEvent,
    JobRun,
    JobState,
    MigrationBatch,
    Organization,
    Service,
    Ticket,
)
from portal.queue import get_queue, get_redis  # noqa: E402
from portal.services import Actor, cti_simulator  # noqa: E402
from portal.services.jobs import JOBS, periodic_jobs, rq_job_id_of, waiting_in_redis  # noqa: E402
from portal.services.organizations import rotate_api_key  # noqa: E402

VENV_BIN = Path(sys.executable).parent
WORK = Path(os.environ.get("PRODLIKE_WORK", "/tmp"))
PASSWORD = "prodlike-pass-1234"
RESTART_DELAY = 1.0
QUEUES = ("default", "scheduled")
WORKERS = ("w1", "w2")
CTI_BATCH = 5  # events per ingest request
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", flush=True)


class Stopped(Exception):
    """The run cannot go on: the portal answered what it should not, or did not do something in time."""


class TimedOut(Stopped):
    pass


def wait_for(condition: Callable, timeout: float, what: str, every: float = 0.2):
    """Poll `condition` until it returns something true; raise TimedOut naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimedOut(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- processes and their supervisor ------------------------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """The pid and every descendant (a worker's work horse and scheduler, a gunicorn master's workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = parent_pid(int(entry))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Proc:
    name: str  # web1, web2, w1, w2
    argv: Callable[[int], list[str]]  # from the generation (a restarted worker needs a new RQ name)
    generation: int = 0
    popen: subprocess.Popen | None = None
    killing: bool = False

    @property
    def label(self) -> str:
        return f"{self.name}-{self.generation}"


@dataclass
class Supervisor:
    """Starts the processes and starts again any that exits (after RESTART_DELAY), like systemd or a container
    orchestrator; `kill` is the chaos: SIGKILL to the whole tree."""

    env: dict
    procs: dict[str, Proc] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    stopping: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, argv: Callable[[int], list[str]]) -> Proc:
        proc = self.procs[name] = Proc(name, argv)
        self._spawn(proc)
        return proc

    def _spawn(self, proc: Proc) -> None:
        out = open(WORK / f"{proc.name}.log", "ab")
        out.write(f"\n==== {proc.label} started at {time.monotonic() - T0:.1f}s\n".encode())
        out.flush()
        proc.popen = subprocess.Popen(proc.argv(proc.generation), cwd=ROOT, env=self.env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        out.close()

    def watch(self) -> None:
        while not self.stopping:
            for proc in list(self.procs.values()):
                with self.lock:
                    if self.stopping or proc.killing or proc.popen.poll() is None:
                        continue
                    code = proc.popen.returncode
                    self.unexpected.append(f"{proc.label} exited with status {code} at {time.monotonic() - T0:.0f}s")
                    self.events.append(f"{time.monotonic() - T0:6.1f}s  {proc.label} exited with status {code}")
                    log(f"supervisor: {proc.label} exited with status {code}; restarting it")
                    proc.killing = True  # until restarted
                threading.Thread(target=self._restart, args=(proc,), daemon=True).start()
            time.sleep(0.2)

    def _restart(self, proc: Proc) -> None:
        time.sleep(RESTART_DELAY)
        with self.lock:
            if self.stopping:
                return
            proc.generation += 1
            self._spawn(proc)
            proc.killing = False
        self.events.append(f"{time.monotonic() - T0:6.1f}s  started {proc.label} (the supervisor)")

    def kill(self, name: str, why: str) -> tuple[datetime, float]:
        """SIGKILL the process and everything under it; the supervisor starts it again. Returns when (UTC wall
        clock, to compare with the database's times, and monotonic)."""
        proc = self.procs[name]
        with self.lock:
            proc.killing = True
            tree = process_tree(proc.popen.pid)
            for pid in tree:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.popen.wait()
            at = datetime.now(timezone.utc), time.monotonic()
        what = f"killed {proc.label} {why} (SIGKILL to pids {', '.join(map(str, tree))})"
        self.events.append(f"{at[1] - T0:6.1f}s  {what}")
        log(what)
        threading.Thread(target=self._restart, args=(proc,), daemon=True).start()
        return at

    def by_pid(self, pid: int | None) -> Proc | None:
        return next((p for p in self.procs.values() if p.popen and p.popen.pid == pid and p.popen.poll() is None),
                    None)

    def stop_all(self) -> None:
        """SIGTERM to each process group (gunicorn and rq stop their workers and horses), 10 s, then SIGKILL to
        whatever of the trees seen before is left (a work horse is in a group of its own)."""
        with self.lock:
            self.stopping = True
        running = [p.popen for p in self.procs.values() if p.popen and p.popen.poll() is None]
        trees = [pid for popen in running for pid in process_tree(popen.pid)]
        for popen in running:
            try:
                os.killpg(popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for popen in running:
            try:
                popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for pid in trees:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# -- a browser: the org admin's pages -----------------------------------------------------------------------------

class Answers:
    """Every answer the driver's own requests got, to find 5xx."""

    def __init__(self):
        self.server_errors: list[str] = []

    def note(self, method: str, url: str, status: int, allowed_503: bool = False) -> None:
        if status >= 500 and not (allowed_503 and status == 503):
            self.server_errors.append(f"{method} {url} answered {status}")


class Admin:
    def __init__(self, answers: Answers):
        self.http = requests.Session()
        self.answers = answers

    def request(self, method: str, url: str, **kwargs):
        response = self.http.request(method, url, allow_redirects=False, timeout=60, **kwargs)
        for cookie in self.http.cookies:
            # In production TLS ends at the load balancer and the session cookie is Secure; on loopback we are the
            # load balancer, so it goes back over plain HTTP.
            cookie.secure = False
        self.answers.note(method, url, response.status_code, allowed_503=url.endswith("/healthz"))
        return response

    def csrf(self, url: str) -> str:
        response = self.request("GET", url)
        match = CSRF_RE.search(response.text)
        if not match:
            raise Stopped(f"no CSRF token on {url} (answered {response.status_code})")
        return match.group(1) or match.group(2)

    def login(self, base: str) -> None:
        response = self.request("POST", f"{base}/login", data={
            "csrf_token": self.csrf(f"{base}/login"), "organization": "demo", "login_id": "admin",
            "password": PASSWORD})
        if response.status_code not in (302, 303):
            raise Stopped(f"log-in answered {response.status_code}")

    def upload(self, base: str, filename: str, data: bytes) -> int:
        page = f"{base}/admin/migrations/new?service=support"
        response = self.request("POST", f"{base}/admin/migrations/new", data={
            "csrf_token": self.csrf(page), "service": "support"}, files={
            "file": (filename, data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
        if response.status_code != 303:
            raise Stopped(f"upload answered {response.status_code}")
        return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])

    def confirm(self, base: str, batch_id: int) -> None:
        response = self.request("POST", f"{base}/admin/migrations/{batch_id}/confirm", data={
            "csrf_token": self.csrf(f"{base}/admin/migrations/{batch_id}"), "understood": "on"})
        if response.status_code != 303 or "/admin/migrations" not in response.headers.get("Location", ""):
            raise Stopped(f"confirming batch {batch_id} answered {response.status_code}")


# -- the run ------------------------------------------------------------------------------------------------------

@dataclass
class Recovery:
    what: str
    started: float | None = None  # monotonic: the kill, the restart
    marks: dict[str, float] = field(default_factory=dict)  # what → monotonic

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.monotonic())

    def line(self) -> str:
        if self.started is None:
            return f"  {self.what}"
        parts = [f"{name} after {at - self.started:.1f} s" for name, at in self.marks.items()]
        return f"  {self.what}: " + ("; ".join(parts) if parts else "nothing recovered")


class Run:
    def __init__(self, args):
        self.args = args
        self.answers = Answers()
        self.recoveries: dict[str, Recovery] = {}
        self.timeouts: list[str] = []
        self.cti_stats: list = []
        self.cti_errors: list[str] = []
        self.sent_ids: set[str] = set()
        self.last_kind: dict[str, str] = {}  # CTI ID → kind of its last event sent
        self.gate = threading.Event()  # the second half of the CTI streams waits for the Redis restart
        self.web: dict[str, str] = {}
        self.batch_a = self.batch_b = self.batch_c = None
        self.scheduler_killed = None
        self.spread_ids: set[str] = set()
        self.sent_calls: dict[str, set[str]] = {}  # call ID → kinds of its events
        env = dict(os.environ)
        env.update(PORTAL_ENV="production", SECRET_KEY=secrets.token_hex(32), PORTAL_DOTENV="/dev/null",
                   PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", PRODLIKE_RUN=str(WORK))
        os.environ.update({k: env[k] for k in ("PORTAL_ENV", "SECRET_KEY", "PORTAL_DOTENV")})
        self.env = env
        self.supervisor = Supervisor(env)

    # -- helpers ---------------------------------------------------------------------------------------------
    def db(self, fn: Callable):
        """Run fn() in an app context of the driver's own app: a fresh transaction each time."""
        with self.app.app_context():
            try:
                return fn()
            finally:
                db.session.remove()

    def redis(self, fn: Callable, default=None):
        try:
            return self.db(fn)
        except RedisError:
            return default

    def flask(self, *args: str) -> str:
        done = subprocess.run([str(VENV_BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True)
        if done.returncode:
            raise Stopped(f"flask {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def scheduler_holders(self) -> dict[str, Proc | None] | None:
        """Per queue, the supervised worker whose scheduler process holds the queue's scheduler lock (None: none
        does, or its holder is dead)."""

        def read():
            r, holders = get_redis(), {}
            for queue in QUEUES:
                name = r.get(SCHEDULER_LOCKING_KEY_TEMPLATE % queue)
                pid = name and r.hget(SCHEDULER_KEY_TEMPLATE % name.decode(), "pid")
                holders[queue] = self.supervisor.by_pid(parent_pid(int(pid))) if pid and int(pid) else None
            return holders

        return self.redis(read)

    def worker_of(self, run_id: int) -> Proc | None:
        """The supervised worker running the RQ job of a job run."""
        def read():
            job = Job.fetch(rq_job_id_of(run_id), connection=get_redis())
            name = job.worker_name
            return next((p for p in self.supervisor.procs.values() if p.label == name), None) if name else None

        try:
            return self.redis(read)
        except Exception:  # NoSuchJobError: not enqueued yet
            return None

    def batch(self, batch_id: int):
        def read():
            row = db.session.get(MigrationBatch, batch_id)
            db.session.expunge(row)
            return row

        return self.db(read)

    def run_of(self, kind: str, batch_id: int, states=None):
        """The newest job run of `kind` for the batch."""
        def read():
            runs = [r for r in db.session.scalars(select(JobRun).where(JobRun.kind == kind).order_by(JobRun.id.desc()))
                    if r.args and r.args[0] == batch_id and (states is None or r.state in states)]
            if runs:
                db.session.expunge(runs[0])
            return runs[0] if runs else None

        return self.db(read)

    # -- phases ------------------------------------------------------------------------------------------------
    def setup(self) -> None:
        log("migrating and seeding (flask db upgrade, seed-demo, CTI agents, API key, jobs schedule)")
        self.flask("db", "upgrade")
        self.flask("seed-demo", "--password", PASSWORD)
        self.app = create_app()

        def seed():
            cti_ids = demo_cti_agents(self.args.agents)[:self.args.agents]
            org = db.session.scalars(select(Organization).where(Organization.domain == DEMO_DOMAIN)).one()
            key = rotate_api_key(Actor(org.id, None), org)
            db.session.commit()
            return cti_ids, key

        self.cti_ids, self.key = self.db(seed)
        self.flask("jobs", "schedule")

    def start(self) -> None:
        redis_url = os.environ["REDIS_URL"]
        for name in ("web1", "web2"):
            port = free_port()
            self.web[name] = f"http://127.0.0.1:{port}"
            # The Procfile's web process (`env` execs gunicorn: the same process).
            self.supervisor.add(name, lambda _g, port=port: [
                "env", "PORTAL_WARM_UP=1", str(VENV_BIN / "gunicorn"), "--preload", "--workers", "2", "--bind",
                f"127.0.0.1:{port}", "--access-logfile", "-", "app:app"])
        for name in WORKERS:
            # The Procfile's worker process; a name per generation (RQ refuses a name a live worker key still has).
            self.supervisor.add(name, lambda g, name=name: [
                str(VENV_BIN / "rq"), "worker", "-w", "jobs.worker.PortalWorker", "--path", ".", "--with-scheduler",
                "--url", redis_url, "--name", f"{name}-{g}", *QUEUES])
        threading.Thread(target=self.supervisor.watch, daemon=True).start()
        log(f"started web1 {self.web['web1']}, web2 {self.web['web2']} (gunicorn -w 2 each), workers w1, w2")
        for name, base in self.web.items():
            wait_for(lambda base=base: self.alive(base), 60, f"{name} to answer")
        wait_for(lambda: (h := self.scheduler_holders()) and all(h.values()), 60, "a worker's scheduler to take "
                 "the scheduler locks")
        log("both web processes answer; a worker's scheduler holds the locks")

    def alive(self, base: str) -> bool:
        try:
            status = requests.get(f"{base}/healthz", timeout=5).status_code
        except requests.RequestException:
            return False
        self.answers.note("GET", f"{base}/healthz", status, allowed_503=True)
        return True

    def start_cti(self) -> list[threading.Thread]:
        """Each agent's stream, cut where the Redis restart comes. Most agents are pinned to one web process (their
        events arrive in order); the last two go through the load balancer: their batches alternate between the web
        processes, each process's share in order on its own connection, so a batch can overtake the one before it
        (late events), all the more when a web process dies or waits (PRODLIKE_OUT_OF_ORDER agents, 2)."""
        streams = cti_simulator.scenario(self.cti_ids, self.args.calls, seed=15)
        parts: dict[str, tuple[list, list]] = {"web1": ([], []), "web2": ([], [])}
        spread = min(self.args.out_of_order, len(streams) - 2)
        for index, stream in enumerate(streams):
            self.sent_ids.update(e["event_id"] for e in stream)
            self.last_kind[stream[-1]["cti_id"]] = stream[-1]["kind"]
            for event in stream:
                if event.get("call_id"):
                    self.sent_calls.setdefault(event["call_id"], set()).add(event["kind"])
            cut = len(stream) * 6 // 10 // CTI_BATCH * CTI_BATCH
            for part, events in enumerate((stream[:cut], stream[cut:])):
                if index < len(streams) - spread:
                    parts[("web1", "web2")[index % 2]][part].append(events)
                    continue
                batches = [events[i:i + CTI_BATCH] for i in range(0, len(events), CTI_BATCH)]
                for web, share in (("web1", batches[0::2]), ("web2", batches[1::2])):
                    parts[web][part].append([e for b in share for e in b])
        self.spread_ids = {stream[0]["cti_id"] for stream in streams[len(streams) - spread:]}
        threads = [threading.Thread(target=self._send_cti, args=(web, *parts[web]), daemon=True) for web in parts]
        for thread in threads:
            thread.start()
        log(f"CTI: {len(self.sent_ids)} events of {self.args.calls} calls by {len(streams)} agents, {spread} of them "
            "through both web processes (out of order); the last 40 % of each stream waits for the Redis restart")
        return threads

    def _send_cti(self, name: str, first: list, second: list) -> None:
        url = self.web[name]
        try:
            for streams, seconds in ((first, 25), (second, 20)):
                if streams is second:
                    self.gate.wait(timeout=self.args.timeout * 3)
                streams = [s for s in streams if s]
                if not streams:
                    continue
                rate = len(streams) * max(len(s) for s in streams) / seconds  # the longest stream lasts `seconds`
                self.cti_stats.append(cti_simulator.send(url, self.key, "support", streams, batch=CTI_BATCH, rate=rate,
                                                         concurrency=len(streams)))
        except Exception as exc:  # the simulator gave up: reported as an invariant
            self.cti_errors.append(f"{name}: {exc}")
            log(f"CTI through {name} gave up: {exc}")

    def tickets_file(self, rows: int, name: str) -> bytes:
        """A file of `rows` valid tickets made from the service's template, downloaded through web process 1."""
        template = self.admin.request("GET", f"{self.web['web1']}/admin/migrations/template/support.xlsx")
        if template.status_code != 200:
            raise Stopped(f"template download answered {template.status_code}")
        generate(template.content, rows, WORK / name)  # the benchmark's file: every row valid, 12 columns filled
        return (WORK / name).read_bytes()

    def checked(self, batch_id: int, what: str) -> None:
        wait_for(lambda: self.batch(batch_id).status != BatchStatus.checking, self.args.timeout, f"{what}'s check")
        batch = self.batch(batch_id)
        if batch.status != BatchStatus.ready:
            raise Stopped(f"{what}'s check ended {batch.status.value}: {said(batch)}")

    def kill_web(self) -> None:
        recovery = self.recoveries["web"] = Recovery("web process 2 killed → answering again")
        _wall, recovery.started = self.supervisor.kill("web2", "(web process 2, CTI events going through it)")
        wait_for(lambda: self.alive(self.web["web2"]), 60, "web2 to answer again after its restart")
        recovery.mark("answering")

    def make_due(self, batch_id: int) -> None:
        """"It is 01:00": the batch's time and its apply run's time are now, and its RQ job is moved to now in the
        scheduled registry, as if the clock had come round (the real scheduler enqueues it)."""
        run = self.run_of("migration.apply", batch_id)
        now = datetime.now(timezone.utc) - timedelta(seconds=1)

        def travel():
            db.session.execute(update(MigrationBatch).where(MigrationBatch.id == batch_id).values(scheduled_for=now))
            db.session.execute(update(JobRun).where(JobRun.id == run.id).values(run_at=now))
            db.session.commit()
            queue = get_queue("scheduled")
            queue.scheduled_job_registry.schedule(queue.fetch_job(rq_job_id_of(run.id)), now)

        self.db(travel)

    def kill_workers(self, upload_b: Callable[[], int]) -> None:
        """While batch B is uploaded (`upload_b`, in a thread: it takes seconds on a busy machine), kill the worker
        applying batch A a second into the apply, then the worker checking B at its first progress."""
        killed: dict[str, tuple[datetime, float]] = {}  # what → (wall clock, monotonic)
        uploads: list = []

        def upload():
            try:
                uploads.append(upload_b())
            except Exception as exc:
                uploads.append(exc)

        threading.Thread(target=upload, daemon=True).start()

        def step():
            if "apply" not in killed:
                a = self.batch(self.batch_a)
                if a.status == BatchStatus.completed:
                    raise TimedOut("batch A's apply finished before it could be killed: give more rows")
                running_for = a.apply_started_at and (datetime.now(timezone.utc) - a.apply_started_at).total_seconds()
                if running_for and running_for > 1:
                    worker = self.worker_of(self.run_of("migration.apply", self.batch_a).id)
                    if worker is not None:
                        why = f"(applying batch A for {running_for:.1f} s)"
                        killed["apply"] = self.supervisor.kill(worker.name, why)
            if uploads and isinstance(uploads[0], Exception):
                raise Stopped(f"uploading batch B failed: {uploads[0]}")
            # Only once the apply runs: the check's worker may hold the scheduler lock, and the apply, due now, needs
            # a scheduler to start.
            if "check" not in killed and uploads and "apply" in killed:
                self.batch_b = uploads[0]
                b = self.batch(self.batch_b)
                if b.status != BatchStatus.checking:
                    raise TimedOut(f"batch B's check ended ({b.status.value}) before it could be killed: give more "
                                   "rows")
                if b.progress > 0:
                    worker = self.worker_of(self.run_of("migration.check", self.batch_b).id)
                    if worker is not None and worker.popen.poll() is None and not worker.killing:
                        killed["check"] = self.supervisor.kill(worker.name, f"(checking batch B, at {b.progress} %)")
            return len(killed) == 2

        wait_for(step, 120, "batch A's apply and batch B's check to be running", every=0.1)
        self.kills = killed
        for key, text in (("check", "worker killed during the check → check resumed / done"),
                          ("apply", "worker killed during the apply → apply resumed / done")):
            self.recoveries[key] = Recovery(text, started=killed[key][1])

    def workers_up(self) -> bool:
        """Every supervised worker registered in Redis (a restarted one has started)."""
        workers = [p for name, p in self.supervisor.procs.items() if name in WORKERS]
        if any(p.killing or p.popen.poll() is not None for p in workers):
            return False
        return bool(self.redis(lambda: all(get_redis().exists(f"rq:worker:{p.label}") for p in workers)))

    def restart_redis(self) -> None:
        """Stop Redis (no persistence: everything in it is lost), let the pages and the ingest meet it down, start it
        again empty. What comes back is watched by `watch_recovery`."""
        rec = self.recoveries["redis"] = Recovery("Redis restarted empty → scheduler / periodic jobs / pending runs "
                                                  "back")
        redis_dir, port = os.environ["PRODLIKE_REDIS_DIR"], os.environ["PRODLIKE_REDIS_PORT"]
        self.gate.set()  # the rest of the CTI streams, sent while Redis is down and after
        subprocess.run(["bash", "-c", 'source scripts/lib.sh && stop_redis "$1"', "-", redis_dir], cwd=ROOT,
                       check=True)
        wait_for(lambda: not port_open(int(port)), 20, "Redis to stop")
        rec.started = time.monotonic()
        self.supervisor.events.append(f"{rec.started - T0:6.1f}s  stopped Redis")
        log("Redis stopped (no persistence: its queues, schedules, locks and registries are gone)")
        time.sleep(2)
        for base in self.web.values():  # pages answer while Redis is down
            self.admin.request("GET", f"{base}/admin/migrations")
            self.alive(base)
        time.sleep(2)
        subprocess.run(["bash", "-c", 'source scripts/lib.sh && start_redis "$1" "$2"', "-", redis_dir, port],
                       cwd=ROOT, check=True)
        rec.mark("Redis answering")
        self.supervisor.events.append(f"{time.monotonic() - T0:6.1f}s  started Redis again, empty")
        log("Redis started again, empty")

    def watch_recovery(self) -> None:
        """Until everything is back (or PRODLIKE_TIMEOUT after the kills): the killed check and apply resumed and done
        with Redis's record of them lost (the database must bring them back), the scheduler, the periodic jobs and
        the pending runs back in Redis; then the worker holding the scheduler lock killed while idle, and the lock
        taken by the other."""
        rec = self.recoveries
        check_killed, apply_killed = self.kills["check"][0], self.kills["apply"][0]  # wall clock, as the database
        deadline = min(at for _wall, at in self.kills.values()) + self.args.timeout
        wanted = {"check": 2, "apply": 2, "redis": 4, "scheduler": 1}

        def idle(proc: Proc) -> bool:
            worker = Worker.find_by_key(f"rq:worker:{proc.label}", connection=get_redis())
            return worker is not None and worker.get_current_job_id() is None

        while True:
            b, a = self.batch(self.batch_b), self.batch(self.batch_a)
            if b.heartbeat_at and b.heartbeat_at > check_killed and b.check_attempts >= 2:
                rec["check"].mark("resumed (heartbeat moving, attempt 2)")
            if b.status != BatchStatus.checking:
                rec["check"].mark(f"done ({b.status.value})")
            if (a.apply_started_at and a.apply_started_at > apply_killed) or (
                    a.status == BatchStatus.applying and a.heartbeat_at and a.heartbeat_at > apply_killed):
                rec["apply"].mark("resumed (started again)")
            if a.status not in (BatchStatus.reserved, BatchStatus.applying):
                if not any(m.startswith("resumed") for m in rec["apply"].marks):
                    rec["apply"].mark("resumed (and done between two looks, 0.5 s apart)")
                rec["apply"].mark(f"done ({a.status.value})")
            holders = self.scheduler_holders()
            live = holders and all(holders.values()) and {p.label for p in holders.values()}
            if live and not any(m.startswith("scheduler lock taken") for m in rec["redis"].marks):
                rec["redis"].mark(f"scheduler lock taken ({', '.join(sorted(live))})")
            if not self.redis(self.periodic_missing_in_redis, default=["?"]):
                rec["redis"].mark("every periodic job's next run back")
            if not self.redis(self.pending_runs_missing_in_redis, default=["?"]):
                rec["redis"].mark("every pending run back (batch C's 01:00 apply)")
            if "scheduler" not in rec and live and len(rec["redis"].marks) == wanted["redis"]:
                holder = holders["scheduled"]
                if self.redis(lambda: idle(holder)):
                    _wall, at = self.supervisor.kill(holder.name, "(idle, holding the scheduler lock)")
                    rec["scheduler"] = Recovery(f"scheduler lock holder {holder.label} killed → lock taken by the "
                                                "other worker", started=at)
                    self.scheduler_killed = holder.label
            elif "scheduler" in rec and live and self.scheduler_killed not in live:
                rec["scheduler"].mark(f"taken by {', '.join(sorted(live))}")
            missing = [f"{key}: {len(rec[key].marks) if key in rec else 0} of {n} steps"
                       for key, n in wanted.items() if key not in rec or len(rec[key].marks) < n]
            if not missing:
                break
            if time.monotonic() > deadline:
                raise TimedOut(f"timed out {self.args.timeout:.0f} s after the worker kills waiting for the "
                               f"recoveries ({'; '.join(missing)}): see the recovery times")
            time.sleep(0.5)
        for key in ("check", "apply", "redis", "scheduler"):
            log(rec[key].line().strip())

    # -- what Redis must hold ------------------------------------------------------------------------------------
    @staticmethod
    def periodic_missing_in_redis() -> list[str]:
        """Periodic jobs without their next run in Redis (queued, scheduled or running)."""
        missing = []
        for spec in periodic_jobs():
            queue = get_queue(spec.queue)
            if spec.tracked:
                pending = db.session.scalars(select(JobRun.id).where(JobRun.kind == spec.name,
                                                                     JobRun.state == JobState.pending)).all()
                if not any(waiting_in_redis(run_id, spec.queue) for run_id in pending):
                    missing.append(spec.name)
                continue
            prefix = f"{spec.name.replace('.', '-').replace('_', '-')}-"
            ids = [*queue.scheduled_job_registry.get_job_ids(), *queue.get_job_ids(),
                   *queue.started_job_registry.get_job_ids()]
            if not any(job_id.startswith(prefix) for job_id in ids):
                missing.append(spec.name)
        return missing

    @staticmethod
    def pending_runs_missing_in_redis() -> list[str]:
        return [f"job run {run.id} ({run.kind}, created {run.created_at:%H:%M:%S})" for run in db.session.scalars(
            select(JobRun).where(JobRun.state == JobState.pending).order_by(JobRun.id))
                if run.kind in JOBS and not waiting_in_redis(run.id, JOBS[run.kind].queue)]

    # -- the whole run -----------------------------------------------------------------------------------------
    def run(self) -> None:
        self.setup()
        self.start()
        self.admin = Admin(self.answers)
        web1 = self.web["web1"]
        self.admin.login(web1)
        data, small = self.tickets_file(self.args.rows, "big.xlsx"), self.tickets_file(2000, "small.xlsx")
        log(f"migration files: {self.args.rows:,} rows ({len(data) / 1e6:.1f} MB) and 2,000 rows")
        senders = self.start_cti()

        self.batch_a = self.admin.upload(web1, "batch-a.xlsx", data)
        self.batch_c = self.admin.upload(web1, "batch-c.xlsx", small)
        log(f"uploaded batch A ({self.batch_a}, {self.args.rows:,} rows) and C ({self.batch_c}, 2,000 rows) through "
            "web1; their checks run")
        self.checked(self.batch_a, "batch A")
        self.checked(self.batch_c, "batch C")
        self.admin.confirm(web1, self.batch_c)
        log("batches A and C checked; C confirmed (reserved for 01:00 tomorrow); killing web2 while CTI events go "
            "through it")
        self.kill_web()
        log(self.recoveries["web"].line().strip())

        self.admin.confirm(web1, self.batch_a)
        self.make_due(self.batch_a)
        log("confirmed batch A and made it due (01:00 has come)")
        self.kill_workers(lambda: self.admin.upload(web1, "batch-b.xlsx", data))
        log(f"uploaded batch B ({self.batch_b}) while A was being applied; both workers killed (restarted at once)")
        wait_for(self.workers_up, 60, "the restarted workers to start")
        self.restart_redis()
        self.watch_recovery()

        for thread in senders:
            thread.join(timeout=60)
            if thread.is_alive():
                raise TimedOut("timed out waiting for the CTI streams to be sent")
        log("CTI streams sent")
        self.settle()

    def settle(self) -> None:
        """Wait (bounded) until no job run is running and nothing is queued: then the database says it all."""
        def quiet():
            running = db.session.scalar(select(func.count()).select_from(JobRun).where(
                JobRun.state == JobState.running))
            queued = sum(get_queue(q).count for q in QUEUES)
            return running == 0 and queued == 0

        try:
            wait_for(lambda: self.redis(quiet), 60, "the jobs to settle (no run running, nothing queued)", every=0.5)
        except TimedOut as exc:
            self.timeouts.append(str(exc))
            log(str(exc))


def said(batch: MigrationBatch) -> str:
    """A batch's outcome: its message, or (newer schemas) its message code and parameters."""
    code = getattr(batch, "message_code", None)
    return batch.message or (f"{code} {getattr(batch, 'message_args', None) or ''}".strip() if code else "no message")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# -- invariants ---------------------------------------------------------------------------------------------------

@dataclass
class Verdict:
    name: str
    violations: int
    example: str = ""
    checked: str = ""

    @property
    def ok(self) -> bool:
        return self.violations == 0


def invariants(run: Run) -> list[Verdict]:
    verdicts: list[Verdict] = []

    def add(name, violations, example="", checked=""):
        verdicts.append(Verdict(name, violations, example, checked))

    def check():
        support = db.session.scalars(select(Service).where(Service.service_key == "support")).one()
        # migration: every row of the applied batch exactly one ticket; B reserved, untouched
        if run.batch_a:
            a = db.session.get(MigrationBatch, run.batch_a)
            made = db.session.execute(select(func.count(), func.count(func.distinct(Ticket.source_row))).where(
                Ticket.source_batch_id == a.id)).one()
            bad = abs(made[0] - run.args.rows) + (made[0] - made[1])
            add("migration: every row of the applied batch became exactly one ticket",
                bad + (a.status != BatchStatus.completed),
                f"batch A {a.status.value} ({said(a)}); {made[0]} tickets for {run.args.rows} rows, "
                f"{made[1]} distinct rows", f"batch A: {made[0]:,} tickets, {made[1]:,} distinct rows"
                + (f", applied in {a.apply_runs} runs" if getattr(a, "apply_runs", None) else ""))
        if run.batch_b:
            b = db.session.get(MigrationBatch, run.batch_b)
            add("migration: the check killed half-way ends with every row checked", (b.status != BatchStatus.ready)
                + abs(b.rows - run.args.rows), f"batch B {b.status.value} ({said(b)}), {b.rows} rows",
                f"batch B {b.status.value}, {b.rows:,} rows checked in {b.check_attempts} attempts")
        if run.batch_c:
            c = db.session.get(MigrationBatch, run.batch_c)
            made = db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.source_batch_id == c.id))
            add("migration: the batch reserved for 01:00 stays reserved, no ticket yet",
                (c.status != BatchStatus.reserved) + made, f"batch C {c.status.value}, {made} tickets",
                f"batch C {c.status.value} for {c.scheduled_for:%Y-%m-%d %H:%M} UTC")
        # tickets: numbers unique per service, and the counter ahead of every number
        dupes = db.session.execute(select(Ticket.service_id, Ticket.number, func.count()).group_by(
            Ticket.service_id, Ticket.number).having(func.count() > 1)).all()
        top = db.session.scalar(select(func.max(Ticket.number)).where(Ticket.service_id == support.id)) or 0
        db.session.refresh(support)
        add("tickets: numbers unique per service (and below the service's counter)",
            len(dupes) + (top > support.ticket_seq), str(dupes[:1] or f"max {top} > counter {support.ticket_seq}"),
            f"{db.session.scalar(select(func.count()).select_from(Ticket)):,} tickets, support up to {top:,}")
        # CTI: every event sent stored exactly once, none refused or kept with an error
        stored = Counter(db.session.scalars(select(CtiEvent.external_id).where(CtiEvent.service_id == support.id)))
        missing = run.sent_ids - set(stored)
        twice = [k for k, n in stored.items() if n > 1]
        add("CTI: every event sent is stored exactly once", len(missing) + len(twice),
            f"missing {sorted(missing)[:1]}, twice {twice[:1]}", f"{len(run.sent_ids):,} sent, {len(stored):,} stored")
        # Why an event drove nothing: `error` (text), and on newer schemas `error_code`; "late" (an event older than
        # the agent's latest one: stored, drives no state) is how out-of-order delivery is meant to end.
        columns = [getattr(CtiEvent, name) for name in ("error_code", "error") if hasattr(CtiEvent, name)]
        kept = db.session.execute(select(CtiEvent.external_id, CtiEvent.kind, CtiEvent.cti_id, *columns).where(
            CtiEvent.service_id == support.id, or_(*(column.is_not(None) for column in columns)))).all()
        codes = Counter(next(v for v in row[3:] if v) for row in kept)
        errors = [row for row in kept if next(v for v in row[3:] if v) != "late"]
        rejected = sum(s.rejected for s in run.cti_stats)
        first_error = (f"{tuple(errors[0][:3])}: {next(v for v in errors[0][3:] if v)}; by reason "
                       f"{dict(codes.most_common(4))}") if errors else f"{rejected} refused"
        add("CTI: no event refused or kept with an error (late ones aside: stored, driving no state)",
            len(errors) + rejected + len(run.cti_errors), "; ".join(run.cti_errors[:1]) or first_error,
            f"late: {codes['late']}" if codes else "")
        # calls: what the telephony said of each call is what the portal recorded
        calls = {c.call_id: c for c in db.session.scalars(select(Call).where(Call.service_id == support.id))}
        wrong = []
        for call_id, kinds in run.sent_calls.items():
            call = calls.get(call_id)
            answered = bool({"answered", "connected"} & kinds)
            if call is None or call.ended_at is None or bool(call.answered_at) != answered or (
                    answered and call.ticket_id is None):
                wrong.append(f"{call_id} ({', '.join(sorted(kinds))}): " + (
                    "no call" if call is None else f"answered {call.answered_at and f'{call.answered_at:%H:%M:%S}'}, "
                    f"ended {call.ended_at and f'{call.ended_at:%H:%M:%S}'}, ticket {call.ticket_id}"))
        per_call = db.session.execute(select(Ticket.call_id, func.count()).where(Ticket.call_id.is_not(None))
                                      .group_by(Ticket.call_id).having(func.count() > 1)).all()
        add("calls: each call ended, answered as the telephony said, one ticket per answered call",
            len(wrong) + len(per_call), wrong[0] if wrong else f"several tickets: {per_call[:1]}",
            f"{len(run.sent_calls)} calls, {sum(1 for c in calls.values() if c.answered_at)} answered")
        # agent state intervals
        rows = db.session.execute(select(AgentStateInterval.id, AgentStateInterval.member_id,
                                         AgentStateInterval.channel, AgentStateInterval.state,
                                         AgentStateInterval.started_at, AgentStateInterval.ended_at).order_by(
            AgentStateInterval.member_id, AgentStateInterval.channel, AgentStateInterval.started_at,
            AgentStateInterval.id)).all()
        cti_of = {m: c for c, m in db.session.execute(select(CtiAgent.cti_id, CtiAgent.member_id)).all()}

        def agent(member_id: int) -> str:  # "cti05 (out of order)" for an agent whose events went both ways
            cti_id = cti_of.get(member_id, f"member {member_id}")
            return f"{cti_id} (out of order)" if cti_id in run.spread_ids else cti_id

        overlaps, zero, opened = [], [], Counter()
        for prev, row in zip(rows, rows[1:]):
            if (prev.member_id, prev.channel) == (row.member_id, row.channel) and (
                    prev.ended_at is None or prev.ended_at > row.started_at):
                overlaps.append(f"{agent(row.member_id)} {row.channel}: {prev.state} {prev.started_at:%H:%M:%S}–"
                                f"{prev.ended_at and f'{prev.ended_at:%H:%M:%S}'} overlaps {row.state} from "
                                f"{row.started_at:%H:%M:%S} (intervals {prev.id}, {row.id})")
        for row in rows:
            if row.ended_at is not None and row.ended_at <= row.started_at:
                zero.append(f"{agent(row.member_id)}: {row.state} at {row.started_at:%H:%M:%S} (interval {row.id})")
            if row.ended_at is None:
                opened[(row.member_id, row.channel)] += 1
        add("intervals: no overlap per member and channel", len(overlaps), overlaps[0] if overlaps else "",
            f"{len(rows):,} intervals")
        add("intervals: none of zero length", len(zero), zero[0] if zero else "")
        several = [f"{agent(m)} {channel}" for (m, channel), n in opened.items() if n > 1]
        add("intervals: at most one open per member and channel", len(several), str(several[:1]))
        out = [cti_id for cti_id, kind in run.last_kind.items() if kind == "agent_logout"]
        members = {c: m for m, c in cti_of.items()}
        still = [agent(members[cti_id]) for cti_id in out if opened.get((members.get(cti_id), "phone"))]
        add("agents: a logged-out agent is offline (no open phone interval)", len(still), str(still[:1]),
            f"{len(out)} agents logged out")
        # jobs: schedules back in Redis, no pending run without its RQ job, nothing left running
        missing_periodic = run.periodic_missing_in_redis()
        add("jobs: every periodic job's next run is in Redis", len(missing_periodic), ", ".join(missing_periodic))
        lost = run.pending_runs_missing_in_redis()
        add("jobs: no pending run without its RQ job", len(lost), lost[0] if lost else "")
        running = db.session.scalars(select(JobRun).where(JobRun.state == JobState.running)).all()
        stuck = []
        for job_run in running:
            spec = JOBS.get(job_run.kind)
            job = get_queue(spec.queue if spec else "default").fetch_job(rq_job_id_of(job_run.id))
            stuck.append(f"job run {job_run.id} ({job_run.kind}) running since {job_run.started_at:%H:%M:%S}, its RQ "
                         f"job {job.get_status(refresh=False).value if job else 'gone'}")
        add("jobs: no run left running once everything settled", len(stuck), stuck[0] if stuck else "")

    run.db(check)
    holders = run.scheduler_holders() or {}
    add("jobs: a live worker's scheduler holds the lock of each queue", sum(1 for q in QUEUES if not holders.get(q)),
        str({q: p.label if p else None for q, p in holders.items()}))
    server_errors = run.answers.server_errors + [f"{s.server_errors} CTI ingest answers" for s in run.cti_stats
                                                 if s.server_errors]
    add("web: no 5xx answer (pages and ingest; /healthz's 503 while Redis is down aside)", len(server_errors),
        server_errors[0] if server_errors else "")
    add("processes: none exited unless killed", len(run.supervisor.unexpected),
        run.supervisor.unexpected[0] if run.supervisor.unexpected else "")
    return verdicts


def report(run: Run, verdicts: list[Verdict], failure: str | None) -> bool:
    print("\n== what happened")
    for event in run.supervisor.events:
        print(f"  {event}")
    print("\n== recovery times (from the kill or the restart)")
    for recovery in run.recoveries.values():
        print(recovery.line())
    if run.cti_stats:
        total = cti_simulator.Stats()
        for stats in run.cti_stats:
            total.add(stats)
        print(f"\n== CTI ingest: {total.events} events in {total.requests} requests; stored {total.stored}, duplicate "
              f"{total.duplicate} (resent after a lost answer), rejected {total.rejected}; retries {total.retried}, "
              f"429 answers {total.throttled}, 5xx answers {total.server_errors}; request p50 "
              f"{total.percentile(50) * 1000:.0f} ms, p99 {total.percentile(99) * 1000:.0f} ms, max "
              f"{max(total.latencies or [0]) * 1000:.0f} ms")
    print("\n== invariants" + (" (of a run that stopped early: some fail only because it did)" if failure else ""))
    for verdict in verdicts:
        detail = verdict.checked if verdict.ok else f"{verdict.violations} violation(s); e.g. {verdict.example}"
        print(f"  {'ok  ' if verdict.ok else 'FAIL'}  {verdict.name}" + (f" — {detail}" if detail else ""))
    failed = [v.name for v in verdicts if not v.ok]
    problems = ([failure] if failure else []) + run.timeouts
    for problem in problems:
        print(f"  FAIL  {problem}")
    if failed or problems:
        print(f"\nprod-like run FAILED: {len(failed) + len(problems)} problem(s)")
        return False
    print("\nprod-like run passed")
    return True


def log_tails(lines: int = 15) -> None:
    """The last distinct lines of each process's log that name an error (the logs go with the work directory)."""
    for path in sorted(WORK.glob("*.log")):
        seen, interesting = set(), []
        for line in reversed(path.read_text(errors="replace").splitlines()):
            key = re.sub(r"^\S+ |\d+", "", line)  # the same error at another time or pid is not news
            if re.search(r"Error|Exception|CRITICAL|WORKER TIMEOUT|exited", line) and key not in seen:
                seen.add(key)
                interesting.append(line)
            if len(interesting) == lines:
                break
        print(f"\n--- {path.name}: the last distinct lines naming an error ---")
        print("\n".join(reversed(interesting)) or "(none)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=int(os.environ.get("PRODLIKE_ROWS", "30000")))
    parser.add_argument("--calls", type=int, default=int(os.environ.get("PRODLIKE_CALLS", "150")))
    parser.add_argument("--agents", type=int, default=int(os.environ.get("PRODLIKE_AGENTS", "6")))
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("PRODLIKE_TIMEOUT", "240")))
    parser.add_argument("--out-of-order", type=int, default=int(os.environ.get("PRODLIKE_OUT_OF_ORDER", "2")),
                        help="agents whose batches alternate between the two web processes")
    args = parser.parse_args()
    args.rows, args.calls = max(10_000, min(args.rows, 200_000)), max(10, min(args.calls, 10_000))
    args.agents, args.timeout = max(2, min(args.agents, 50)), max(30.0, min(args.timeout, 900.0))
    args.out_of_order = max(0, min(args.out_of_order, args.agents - 2))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SystemExit: the processes are stopped on the way out
    run = Run(args)
    failure, verdicts = None, []
    try:
        try:
            run.run()
        except Stopped as exc:
            failure = str(exc)
        except Exception as exc:  # the run's own bug, or a failure it did not foresee: said, then the invariants
            traceback.print_exc()
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            run.gate.set()
        if failure:
            log(f"stopped: {failure}")
        if hasattr(run, "app"):
            try:
                verdicts = invariants(run)
            except Exception as exc:  # the report still says what was measured
                traceback.print_exc()
                failure = (failure + "; " if failure else "") + f"checking the invariants failed: {exc!r}"
    finally:
        run.supervisor.stop_all()
    passed = report(run, verdicts, failure)
    if not passed:
        log_tails()
    log(f"done in {time.monotonic() - T0:.0f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
