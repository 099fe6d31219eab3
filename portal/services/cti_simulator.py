"""CTI simulator: realistic event streams for a service's agents, posted over HTTP to the ingest endpoint.

`scenario()` writes a working stretch per agent (log-in, inbound calls answered or abandoned, some transferred,
outbound calls connected or not, after-call work, breaks, log-out) that ends just before now, so every event is
in the past. `send()` posts them in batches, one connection per thread; an agent's events always go through the
same thread in order. A 429 waits for Retry-After and sends the same batch again; a dropped connection or a 5xx
answer (a web process restarting, a load balancer without a backend) retries with a growing pause, as a telephony
system would: the ingest stores each event ID once, so a resend never duplicates anything."""
from __future__ import annotations

import http.client
import json
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

# After a 429 the sender waits as told, but never less than this: flask-limiter rounds Retry-After down, so it
# says 0 for most of a one-second window, and resending at once would only earn another 429.
THROTTLE_FLOOR = 0.5
# A server that refuses this many times in a row (minutes of waiting at the floor) is not pacing, it is shut.
THROTTLED_IN_A_ROW_LIMIT = 1000
# Pauses before resending after a dropped connection or a 5xx: doubling from the first to the last, so the default
# 20 attempts wait about half a minute in all (a web process restarting), not four seconds.
RETRY_PAUSE_FIRST, RETRY_PAUSE_MAX = 0.2, 2.0


@dataclass
class Stats:
    requests: int = 0
    events: int = 0
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    with_error: int = 0
    throttled: int = 0
    retried: int = 0
    server_errors: int = 0  # 5xx answers (each one retried)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def add(self, other: "Stats") -> None:
        for name in ("requests", "events", "stored", "duplicate", "rejected", "with_error", "throttled", "retried",
                     "server_errors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latencies.extend(other.latencies)

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (f"{self.events} events in {self.requests} requests, {self.seconds:.1f} s: {self.rate:.0f} events/s; "
                f"request p50 {self.percentile(50) * 1000:.0f} ms, p99 {self.percentile(99) * 1000:.0f} ms; "
                f"stored {self.stored}, duplicate {self.duplicate}, rejected {self.rejected}, "
                f"kept with an error {self.with_error}; 429 answers {self.throttled}, retries {self.retried}, "
                f"5xx answers {self.server_errors}")


def scenario(cti_ids: list[str], calls: int, *, end: datetime | None = None, seed: int | None = None,
             after_call_bulk: bool = True) -> list[list[dict]]:
    """One ordered event list per agent; `calls` calls spread over the agents."""
    rng = random.Random(seed)
    run = secrets.token_hex(4)
    end = end or datetime.now(timezone.utc) - timedelta(seconds=1)
    counter = iter(range(1, 10**9))
    streams = []
    for index, cti_id in enumerate(cti_ids):
        share = calls // len(cti_ids) + (1 if index < calls % len(cti_ids) else 0)
        events: list[tuple[float, dict]] = []
        t = 0.0

        def emit(kind: str, **values) -> None:
            events.append((t, {"event_id": f"sim-{run}-{next(counter)}", "kind": kind, "cti_id": cti_id,
                               **{k: v for k, v in values.items() if v is not None}}))

        emit("agent_login")
        for n in range(share):
            t += rng.uniform(5, 60)
            call_id = f"sim-{run}-{cti_id}-{n}"
            number = f"010{rng.randrange(10**8):08d}"
            roll = rng.random()
            if roll < 0.65:  # inbound, answered, sometimes transferred
                emit("inbound_ringing", call_id=call_id, direction="IB", counterpart=number)
                t += rng.uniform(2, 15)
                emit("answered", call_id=call_id, direction="IB", counterpart=number)
                t += rng.uniform(30, 400)
                if rng.random() < 0.1:
                    emit("transfer", call_id=call_id, direction="IB", counterpart=number, detail={"to": "queue"})
                    t += rng.uniform(10, 60)
                emit("hangup", call_id=call_id, direction="IB", counterpart=number)
            elif roll < 0.77:  # inbound, abandoned while ringing
                emit("inbound_ringing", call_id=call_id, direction="IB", counterpart=number)
                t += rng.uniform(3, 30)
                emit("hangup", call_id=call_id, direction="IB", counterpart=number)
                continue
            else:  # outbound, connected or not
                emit("outbound_dial", call_id=call_id, direction="OB", counterpart=number)
                t += rng.uniform(5, 25)
                if rng.random() < 0.8:
                    emit("connected", call_id=call_id, direction="OB", counterpart=number)
                    t += rng.uniform(20, 300)
                emit("hangup", call_id=call_id, direction="OB", counterpart=number)
            # After the call: ticket work (bulk state) or the agent's pick, then ready again; now and then a break.
            t += rng.uniform(10, 90)
            if not after_call_bulk:
                emit("state_change", state="ticket_work")
                t += rng.uniform(10, 60)
            if rng.random() < 0.12:
                emit("state_change", state=rng.choice(["break", "meal", "training"]))
                t += rng.uniform(300, 900)
            emit("state_change", state="ready")
        t += rng.uniform(5, 60)
        emit("agent_logout")
        start = end - timedelta(seconds=t)
        streams.append([{**event, "occurred_at": (start + timedelta(seconds=offset)).isoformat()}
                        for offset, event in events])
    return streams


class _Sender:
    def __init__(self, url: str, key: str, service: str, timeout: float = 30):
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port or (443 if self.https else 80)
        self.path = (parts.path.rstrip("/") or "") + "/api/v1/cti/events"
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.service, self.timeout = service, timeout
        self.connection = None

    def _connect(self):
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        self.connection = cls(self.host, self.port, timeout=self.timeout)

    def post(self, events: list[dict], stats: Stats, attempts: int = 20) -> None:
        """Send one batch until the ingest answers it. Only a dropped connection or a 5xx counts toward
        `attempts`: a 429 is the server pacing us, and how many a flood earns depends on how fast the machine is."""
        body = json.dumps({"service": self.service, "events": events})
        failed = throttled = 0
        last_error = "no answer"
        while failed < attempts:
            if throttled >= THROTTLED_IN_A_ROW_LIMIT:
                raise RuntimeError(f"gave up on a batch after {throttled} 429 answers in a row")
            if self.connection is None:
                self._connect()
            started = time.perf_counter()
            try:
                self.connection.request("POST", self.path, body=body, headers=self.headers)
                response = self.connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.connection.close()
                self.connection = None
                last_error = f"{type(exc).__name__}: {exc}"
                failed += 1
                stats.retried += 1
                time.sleep(min(RETRY_PAUSE_FIRST * 2 ** (failed - 1), RETRY_PAUSE_MAX))
                continue
            stats.latencies.append(time.perf_counter() - started)
            stats.requests += 1
            if response.status == 429:
                stats.throttled += 1
                throttled += 1
                time.sleep(_retry_after(response.getheader("Retry-After")))
                continue
            if response.status >= 500:
                last_error = f"ingest answered {response.status}: {payload[:300]!r}"
                failed += 1
                stats.server_errors += 1
                stats.retried += 1
                time.sleep(min(RETRY_PAUSE_FIRST * 2 ** (failed - 1), RETRY_PAUSE_MAX))
                continue
            if response.status not in (200, 422):
                raise RuntimeError(f"ingest answered {response.status}: {payload[:300]!r}")
            for result in json.loads(payload)["results"]:
                stats.events += 1
                status = result["status"]
                setattr(stats, status, getattr(stats, status) + 1)
                stats.with_error += 1 if result.get("error") else 0
            return
        raise RuntimeError(f"gave up on a batch after {attempts} failed attempts; the last: {last_error}")


def _retry_after(header: str | None) -> float:
    """Seconds to wait after a 429: the server's Retry-After (seconds; else 1 s), within THROTTLE_FLOOR..5 s."""
    try:
        seconds = float(header) if header else 1.0
    except ValueError:  # an HTTP date: not worth parsing for a simulator
        seconds = 1.0
    return min(max(seconds, THROTTLE_FLOOR), 5.0)


def send(url: str, key: str, service: str, streams: list[list[dict]], *, batch: int = 20, rate: float | None = None,
         concurrency: int = 1) -> Stats:
    """Post every agent's stream (agents split over `concurrency` threads, each thread in time order) in
    batches of `batch` events, at most `rate` events per second in all. Returns the combined stats."""
    groups = [streams[i::concurrency] for i in range(concurrency)]
    per_thread = rate / concurrency if rate else None
    results: list[Stats] = []
    errors: list[BaseException] = []

    def work(group: list[list[dict]]) -> None:
        stats, sender = Stats(), _Sender(url, key, service)
        ordered = sorted((e for stream in group for e in stream), key=lambda e: e["occurred_at"])
        began = time.perf_counter()
        try:
            for i in range(0, len(ordered), batch):
                if per_thread:
                    wait = began + i / per_thread - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                sender.post(ordered[i:i + batch], stats)
        except BaseException as exc:  # reported by the caller's thread
            errors.append(exc)
        results.append(stats)

    began = time.perf_counter()
    threads = [threading.Thread(target=work, args=(group,)) for group in groups if group]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Stats()
    for stats in results:
        total.add(stats)
    total.seconds = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} thread(s) failed: {errors[0]}") from errors[0]
    return total
