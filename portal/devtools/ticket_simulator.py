"""Ticket simulator (`flask tickets simulate`): a realistic stream of web-form and e-mail tickets, in Korean and
English, posted over HTTP to the Open API (`POST /api/v1/services/{id}/tickets`) at a steady rate, for demos,
tests and benchmarks of automatic assignment.

Every ticket carries an Idempotency-Key of its own, so a resend after a dropped connection or a 5xx never makes a
second ticket; a 429 waits as told and sends the same request again (as the CTI simulator does)."""
from __future__ import annotations

import http.client
import json
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import quote, urlsplit

from portal.services.cti_simulator import RETRY_PAUSE_FIRST, RETRY_PAUSE_MAX, THROTTLED_IN_A_ROW_LIMIT, _retry_after

KOREAN = [
    ("주문한 상품이 아직 배송되지 않았어요", "지난주 {day}에 주문했는데 아직 배송 시작 알림이 없습니다. 주문번호 {order}입니다.", "배송"),
    ("환불 요청드립니다", "상품 사이즈가 맞지 않아 환불을 원합니다. 주문번호 {order}, 포장은 뜯지 않았습니다.", "환불"),
    ("비밀번호 재설정 메일이 오지 않아요", "비밀번호 찾기를 여러 번 눌렀는데 메일이 오지 않습니다. 스팸함도 확인했어요.", "계정"),
    ("결제가 두 번 된 것 같아요", "카드 내역에 같은 금액이 두 번 찍혔습니다. 주문번호 {order} 확인 부탁드립니다.", "결제"),
    ("쿠폰이 적용되지 않습니다", "회원가입 쿠폰을 적용하려는데 '사용할 수 없는 쿠폰'이라고 나옵니다.", "프로모션"),
    ("앱이 자꾸 종료돼요", "업데이트 후 장바구니 화면에 들어가면 앱이 꺼집니다. 기종은 갤럭시 S23입니다.", "앱 오류"),
    ("배송지 변경 가능한가요?", "주문번호 {order}의 배송지를 회사 주소로 바꾸고 싶습니다.", "배송"),
    ("교환 절차 문의", "색상을 잘못 골랐습니다. 교환하려면 어떻게 해야 하나요?", "교환"),
]
ENGLISH = [
    ("My order has not arrived yet", "I ordered on {day} and still have no tracking number. Order {order}.", "Delivery"),
    ("Refund request", "The item arrived damaged. I would like a refund for order {order}.", "Refund"),
    ("Cannot log in to my account", "The login page says my password is wrong, but the reset e-mail never arrives.",
     "Account"),
    ("Charged twice", "My card statement shows the same amount twice for order {order}.", "Billing"),
    ("Discount code not accepted", "The code from your newsletter says it has expired, but it is valid until Friday.",
     "Promotion"),
    ("App crashes on checkout", "Since the last update the app closes when I open the cart (iPhone 14).", "App issue"),
    ("Change delivery address", "Could you send order {order} to my office address instead?", "Delivery"),
    ("How do I exchange an item?", "I picked the wrong size. What are the steps for an exchange?", "Exchange"),
]
KOREAN_NAMES = ["김민준", "이서연", "박도윤", "최하은", "정시우", "강지우", "조예준", "윤수아", "장주원", "임지아"]
ENGLISH_NAMES = ["Emma Wilson", "Liam Smith", "Olivia Brown", "Noah Taylor", "Ava Johnson", "James Lee",
                 "Sophia Martin", "Lucas Clark"]
DOMAINS = ["example.com", "mail.example", "example.co.kr", "example.net"]
DAYS_KO = ["월요일", "화요일", "수요일", "목요일", "금요일"]
DAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
PRIORITIES = ["normal"] * 6 + ["low", "high", "high", "urgent"]


def tickets(count: int, *, seed: int | None = None) -> list[dict]:
    """`count` ticket requests: about three in five Korean, half by web form (a name, maybe a phone) and half by
    e-mail (an address, a message ID as external ID)."""
    rng = random.Random(seed)
    run = secrets.token_hex(4)
    made = []
    for n in range(count):
        korean = rng.random() < 0.6
        title, body, category = rng.choice(KOREAN if korean else ENGLISH)
        name = rng.choice(KOREAN_NAMES if korean else ENGLISH_NAMES)
        order = f"A-{rng.randrange(10**6):06d}"
        channel = rng.choice(("web", "email"))
        email = f"customer{rng.randrange(10**4)}@{rng.choice(DOMAINS)}"
        ticket = {"title": title, "body": body.format(order=order, day=rng.choice(DAYS_KO if korean else DAYS_EN)),
                  "channel": channel, "priority": rng.choice(PRIORITIES), "category": category,
                  "requester": {"name": name, "email": email}}
        if channel == "web":
            ticket["external_id"] = f"WEB-{run}-{n}"
            if rng.random() < 0.5:
                ticket["requester"]["phone"] = f"010-{rng.randrange(10**4):04d}-{rng.randrange(10**4):04d}"
        else:
            ticket["external_id"] = f"<{run}.{n}@{email.split('@')[1]}>"
        if rng.random() < 0.3:
            ticket["tags"] = rng.sample(["vip", "repeat", "mobile", "urgent-reply"], k=rng.randint(1, 2))
        made.append(ticket)
    return made


@dataclass
class Created:
    number: int
    assignee: str | None
    channel: str
    title: str
    replayed: bool = False


@dataclass
class Stats:
    created: list[Created] = field(default_factory=list)
    throttled: int = 0
    retried: int = 0
    server_errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    def summary(self) -> str:
        assigned: dict[str, int] = {}
        for ticket in self.created:
            if ticket.assignee:
                assigned[ticket.assignee] = assigned.get(ticket.assignee, 0) + 1
        waiting = sum(1 for t in self.created if not t.assignee)
        rate = len(self.created) / self.seconds if self.seconds else 0.0
        who = ", ".join(f"{login} {n}" for login, n in sorted(assigned.items())) or "nobody"
        return (f"{len(self.created)} tickets in {self.seconds:.1f} s: {rate:.1f}/s; request p50 "
                f"{self.percentile(50) * 1000:.0f} ms, p99 {self.percentile(99) * 1000:.0f} ms; assigned "
                f"{len(self.created) - waiting} ({who}), waiting in the queue {waiting}; 429 answers "
                f"{self.throttled}, retries {self.retried}, 5xx answers {self.server_errors}")


class Refused(RuntimeError):
    """The API refused a ticket (not a pause or a hiccup): its answer says why."""


class _Poster:
    def __init__(self, url: str, key: str, service: str, timeout: float = 30):
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port or (443 if self.https else 80)
        self.path = f"{parts.path.rstrip('/')}/api/v1/services/{quote(service, safe='')}/tickets"
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                        "Accept-Language": "en"}
        self.timeout = timeout
        self.connection = None

    def post(self, ticket: dict, idempotency_key: str, stats: Stats, attempts: int = 20) -> Created:
        body = json.dumps(ticket, ensure_ascii=False).encode()
        headers = {**self.headers, "Idempotency-Key": idempotency_key}
        failed = throttled = 0
        last_error = "no answer"
        while failed < attempts:
            if throttled >= THROTTLED_IN_A_ROW_LIMIT:
                raise RuntimeError(f"gave up on a ticket after {throttled} 429 answers in a row")
            if self.connection is None:
                cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self.connection = cls(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                self.connection.request("POST", self.path, body=body, headers=headers)
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
            if response.status == 429:
                stats.throttled += 1
                throttled += 1
                time.sleep(_retry_after(response.getheader("Retry-After")))
                continue
            if response.status >= 500:
                last_error = f"the API answered {response.status}: {payload[:300]!r}"
                failed += 1
                stats.server_errors += 1
                stats.retried += 1
                time.sleep(min(RETRY_PAUSE_FIRST * 2 ** (failed - 1), RETRY_PAUSE_MAX))
                continue
            if response.status not in (200, 201):
                raise Refused(f"the API answered {response.status}: {payload[:500].decode(errors='replace')}")
            answer = json.loads(payload)
            return Created(answer["number"], answer["assignee"], answer["channel"], answer["title"],
                           replayed=response.getheader("Idempotent-Replayed") == "true")
        raise RuntimeError(f"gave up on a ticket after {attempts} failed attempts; the last: {last_error}")


def send(url: str, key: str, service: str, stream: list[dict], *, rate: float | None = None, concurrency: int = 1,
         on_created: Callable[[Created], None] | None = None) -> Stats:
    """Post the tickets in order, the i-th not before i / `rate` seconds from the start, over `concurrency`
    connections. `on_created` hears of each ticket as its answer comes. Returns the combined stats."""
    run = secrets.token_hex(6)
    stats, lock, errors = Stats(), threading.Lock(), []

    def work(offset: int) -> None:
        poster, mine = _Poster(url, key, service), Stats()
        try:
            for i in range(offset, len(stream), concurrency):
                if rate:
                    wait = began + i / rate - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                created = poster.post(stream[i], f"sim-{run}-{i}", mine)
                with lock:
                    stats.created.append(created)
                    if on_created:
                        on_created(created)
        except BaseException as exc:  # reported by the caller's thread
            errors.append(exc)
        with lock:
            stats.throttled += mine.throttled
            stats.retried += mine.retried
            stats.server_errors += mine.server_errors
            stats.latencies.extend(mine.latencies)

    began = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(min(concurrency, len(stream)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats.seconds = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} sender(s) stopped: {errors[0]}") from errors[0]
    return stats
