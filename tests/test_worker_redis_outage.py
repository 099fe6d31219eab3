"""A worker rides out a Redis restart: a real `rq worker -w jobs.worker.PortalWorker` process talks to the test Redis
through a relay that is cut (every connection dropped, new ones refused) and restored on the same port, as a restart
looks from the worker. RQ's own loop waits for Redis only inside its dequeue; anywhere else (finishing a job, the
maintenance tick, the suspension check) a connection error made the worker quit (found by scripts/prodlike.sh)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.job import JobStatus

from tests.conftest import REDIS_URL
from tests.test_scheduler_takeover import wait_for

ROOT = Path(__file__).resolve().parents[1]


class RedisRelay:
    """A TCP relay to the test Redis on a port of its own; `cut()` drops every connection and stops listening,
    `restore()` listens on the same port again."""

    def __init__(self, url: str):
        head, db = url.rsplit("/", 1)
        host, port = head.split("//", 1)[1].split(":")
        self.target, self.db = (host, int(port)), db
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.lock, self.sockets = threading.Lock(), []
        self.restore()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    def restore(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the old connections' TIME_WAIT
        threading.Thread(target=self._accept, args=(self.server,), daemon=True).start()

    def cut(self) -> None:
        self.server.close()
        with self.lock:
            for sock in self.sockets:
                self._close(sock)
            self.sockets.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        self._close(source)
        self._close(sink)

    @staticmethod
    def _close(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


class Worker:
    """A real PortalWorker process on its own queue, talking to Redis through `relay`."""

    def __init__(self, relay: RedisRelay, tmp_path: Path, *options: str):
        self.name, self.queue_name = f"outage-{uuid.uuid4().hex[:8]}", f"redis-outage-{uuid.uuid4().hex[:8]}"
        self.log = tmp_path / "worker.log"
        env = {**os.environ, "PORTAL_DOTENV": "/dev/null", "PYTHONUNBUFFERED": "1", "REDIS_URL": relay.url,
               "DATABASE_URL": f"sqlite:///{tmp_path}/worker.db", "PORTAL_WORKER_MAINTENANCE_SECONDS": "2"}
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "rq"), "worker", "-w", "jobs.worker.PortalWorker", "--url",
                 relay.url, "--path", str(ROOT), "--name", self.name, *options, self.queue_name], cwd=ROOT, env=env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
        self.process.wait(timeout=10)

    def failure(self, error: AssertionError) -> AssertionError:
        return AssertionError(f"{error}\n{self.log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def relay():
    relay = RedisRelay(REDIS_URL)
    yield relay
    relay.cut()


@pytest.fixture
def redis():
    connection = Redis.from_url(REDIS_URL)
    yield connection
    connection.close()


def runs_a_job_once_redis_is_back(worker: Worker, redis: Redis) -> None:
    job = Queue(worker.queue_name, connection=redis).enqueue("os.getpid")
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, 60, "a job enqueued once Redis is back")
    assert worker.process.poll() is None


def test_a_worker_whose_job_ends_while_redis_is_away_keeps_working_once_it_is_back(relay, redis, tmp_path):
    worker = Worker(relay, tmp_path)
    try:
        wait_for(lambda: redis.exists(f"rq:worker:{worker.name}"), 60, "the worker to start")
        job = Queue(worker.queue_name, connection=redis).enqueue("time.sleep", 3)
        wait_for(lambda: job.get_status(refresh=True) == JobStatus.STARTED, 30, "the job to start")
        relay.cut()  # the job ends, and the worker tries to record it and go on, while Redis is away
        time.sleep(6)
        relay.restore()
        runs_a_job_once_redis_is_back(worker, redis)
    except AssertionError as error:
        raise worker.failure(error) from None
    finally:
        worker.stop()


def test_a_worker_that_loses_redis_as_it_starts_its_scheduler_keeps_working_once_it_is_back(relay, redis, tmp_path):
    worker = Worker(relay, tmp_path, "--with-scheduler")
    try:
        # Cut the moment it has registered: it is reconciling, then takes the scheduler lock (RQ did that outside
        # any retry).
        deadline = time.monotonic() + 60
        while not redis.exists(f"rq:worker:{worker.name}") and time.monotonic() < deadline:
            time.sleep(0.01)
        relay.cut()
        time.sleep(5)
        relay.restore()
        runs_a_job_once_redis_is_back(worker, redis)
    except AssertionError as error:
        raise worker.failure(error) from None
    finally:
        worker.stop()
        redis.delete(f"rq:scheduler-lock:{worker.queue_name}")
