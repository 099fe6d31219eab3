"""Hostile query strings and form bodies on every route of the access table: nothing may answer 500.

For each route, Hypothesis sends a fixed number of requests (FUZZ_EXAMPLES, derandomized: the same inputs every
run) as the most privileged caller the route admits, with the route's own parameter names (read from its module
and forms) set to odd values: numbers past 2^63 and 10^30, negative, float, NaN, empty, 100,000 characters,
control characters and NUL, lone surrogates and invalid UTF-8 percent-encoded, unicode oddities, repeated keys,
impossible dates, with and without htmx headers. JSON bodies and uploads are fuzzed elsewhere
(tests/test_fuzz_json.py, the migration tests). What was tried (requests, and fields set in them) and how it was
answered is printed at the end of the run; FUZZ_EXAMPLES=500 makes a longer run.
"""
from __future__ import annotations

import inspect
import os
import re
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.access_table import ACCESS
from tests.conftest import csrf_token
from tests.test_access import placeholders, world  # noqa: F401  (world: an organization with every role, and another)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
# JSON bodies belong to the API tests; these routes take nothing from a query string or a form.
JSON_ONLY = {"api_cti.ingest", "api_services.create_service", "api_services.update_service",
             "api_services.suspend_service", "api_services.resume_service", "api_services.terminate_service",
             "api_services.change_contract", "api_services.estimate_contract"}
ROUTES = sorted(e for e in ACCESS if e not in JSON_ONLY)

# Past what the database stores (2^31 for ids, 2^63 for SQLite and bigint), and numbers that are not quite numbers.
HUGE_NUMBERS = ["2147483648", "4294967296", "9223372036854775807", "9223372036854775808", "18446744073709551616",
                "99999999999999999999", str(10**30), "-2147483649", "-9223372036854775809", "-" + str(10**30)]
ODD_NUMBERS = ["-1", "0", "00", "-0", "+5", " 7 ", "1.5", "1e309", "-1e309", "NaN", "nan", "inf", "-Infinity",
               "1_000", "0x10", "1,000", "²", "٣", "１２", "1" * 5000]
HOSTILE_DATES = ["0000-00-00", "9999-12-31", "0001-01-01", "2026-02-30", "2026-13-01", "9999-12", "0000-01",
                 "99999999999999999999-01", "2026-99999999999999999999", "-1-01", "2026-1-1", "2026-01-01T25:00",
                 "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "20260101", "2026-W01"]
HOSTILE_TEXT = ["", " ", "\x00", "a\x00b", "\x01\x1f\x7f", "\r\n", "\t", "a" * 100_000, "\u202eevil", "\u200b",
                "\ufeff", "e\u0301" * 50, "İ" * 40, "ß", "ﬁ", "𝕏😀", "\uffff", "\U0010ffff", "\ud800", "\udfff-x",
                "%", "%zz", "&", "=", "[]", "{}", "null", "true", "on", "off", "undefined", "//evil.example",
                "/\\evil.example", "javascript:alert(1)", "<script>x</script>", "' OR 1=1 --", "../../etc/passwd",
                "*", "%%", "_", "ko", "en", "agent", "manager", "all", "service:", "type:"]
HTMX = [{}, {"HX-Request": "true"}, {"HX-Request": "true", "HX-Boosted": "true"},
        {"HX-Request": "true", "HX-Target": "nowhere", "HX-Current-URL": "\x7f//evil"}, {"HX-Request": "false"}]
LANGUAGES = ["", "ko", "en", "xx", "ko;q=abc", "*;q=0", "en-US,ko;q=0.5", "\x7f"]
# Every one of a route's names gets each of these at least once (the explicit examples), the rest is generated.
SWEEP = ["9223372036854775808", "99999999999999999999", "-9223372036854775809", "-1", "1.5", "NaN", "", "²",
         "a" * 100_000, "a\x00b", "\ud800", b"\xff\xfe", "9999-12-31", "0001-01-01", "0001-01-01T00:00",
         "99999999999999999999-01", "\u202e𝕏😀"]
# Names that pick the service stay on the organization's service in the sweep, or every request would stop at a 404.
SANE = {"service": "{service}", "service_key": "{service}"}
RAW_TAILS = ["", "&", "%", "%zz", "&=&", "=x", ";", "%00", "a&a&a", "%ed%a0%80=%ed%a0%80", "%ff%fe"]

huge = st.sampled_from(HUGE_NUMBERS)
numbers = st.one_of(st.sampled_from(ODD_NUMBERS), st.integers(min_value=-10**30, max_value=10**30).map(str),
                    st.floats().map(str))
values = st.one_of(huge, huge, numbers, st.sampled_from(HOSTILE_DATES), st.sampled_from(HOSTILE_TEXT),
                   st.sampled_from(HOSTILE_TEXT), st.text(max_size=40), st.binary(max_size=12))

# Where a route's parameter names are found in its code: request.args/form/values reads and form field names.
_NAME_PATTERNS = [
    re.compile(r"""(?:args|form|values|data)\.get(?:list)?\(\s*["']([\w.\-]+)["']"""),
    re.compile(r"""(?:args|form|values)\[\s*["']([\w.\-]+)["']\s*\]"""),
    re.compile(r"""^\s+(\w+)\s*=\s*\w+Field\(""", re.M),
    re.compile(r"""fields\.\w+\(.*data_key=["']([\w.\-]+)["']"""),
    re.compile(r"""^\s+(\w+)\s*=\s*fields\.\w+\(""", re.M),
]
_TUPLE_OF_NAMES = re.compile(r"""(?:for \w+ in|FIELDS\s*=)\s*\(([^)]*)\)""")


def _names_in(source: str) -> set[str]:
    names = {m for pattern in _NAME_PATTERNS for m in pattern.findall(source)}
    for group in _TUPLE_OF_NAMES.findall(source):
        names |= set(re.findall(r"""["']([\w.\-]+)["']""", group))
    return names


def parameter_names(app, endpoint: str, rule_path: str, rule_data: dict) -> list[str]:
    """The names this route may read: from the access table, its module, its blueprint's forms and schemas."""
    names = set(rule_data) | {pair.split("=")[0] for pair in rule_path.partition("?")[2].split("&") if pair}
    view = inspect.unwrap(app.view_functions[endpoint])
    module = Path(inspect.getsourcefile(view))
    for path in (module, module.with_name("forms.py"), module.with_name("schemas.py")):
        if path.exists() and path.suffix == ".py" and "static" not in endpoint:
            names |= _names_in(path.read_text())
    names |= {"page", "id", "csrf_token"}
    return sorted(names)


def _encode(value) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def urlencode(pairs) -> str:
    return "&".join(quote_from_bytes(_encode(k), safe="") + "=" + quote_from_bytes(_encode(v), safe="")
                    for k, v in pairs)


def request_strategy(names: list[str], base_query: list, base_form: list, methods: list[str]):
    """A method, query pairs, form pairs (each base pair kept, dropped, replaced or repeated) and headers."""
    def edited(base):
        return st.tuples(*[st.tuples(st.just(k), st.sampled_from(["keep", "drop", "hostile", "repeat"]), values)
                           for k, v in base]).map(
            lambda choices: [pair for (k, how, odd), (_k, v) in zip(choices, base)
                             for pair in {"keep": [(k, v)], "drop": [], "hostile": [(k, odd)],
                                          "repeat": [(k, v), (k, odd)]}[how]])
    # Most requests set about half the route's names at once (a refusal of one may hide another), some only one.
    every = st.tuples(*[st.one_of(st.none(), values).map(lambda v, n=name: v if v is None else (n, v))
                        for name in names]).map(lambda pairs: [p for p in pairs if p is not None])
    focused = st.lists(st.tuples(st.sampled_from(names), values), min_size=1, max_size=2)
    extra = st.one_of(every, every, focused)
    return st.fixed_dictionaries({
        "method": st.sampled_from(methods),
        "query": st.tuples(edited(base_query), extra).map(lambda t: t[0] + t[1]),
        "form": st.tuples(edited(base_form), extra).map(lambda t: t[0] + t[1]),
        "tail": st.sampled_from(RAW_TAILS),
        "csrf": st.sampled_from(["valid"] * 8 + ["missing", "hostile"]),
        "htmx": st.sampled_from(HTMX),
        "language": st.sampled_from(LANGUAGES),
    })


def sweep(names: list[str], base_query: list, base_form: list, methods: list[str]) -> list[dict]:
    """Explicit requests: each SWEEP value in every name at once (the base pairs kept), by each method."""
    base = {k for k, _v in base_query + base_form}
    odd = [n for n in names if n not in base and n != "csrf_token"]
    return [{"method": method, "query": base_query + [(n, value) for n in odd],
             "form": base_form + [(n, value) for n in odd] if method != "GET" else [], "tail": "", "csrf": "valid",
             "htmx": HTMX[i % 2], "language": ""}
            for i, value in enumerate(SWEEP) for method in methods]


TRIED: dict[str, Counter] = defaultdict(Counter)


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    """After the last route: what was tried per route and how it was answered (outside pytest's capture)."""
    yield
    if not TRIED:
        return
    total = Counter()
    columns = ("tried", "fields", "2xx", "3xx", "4xx", "5xx")
    lines = [f"fuzz: {'route':44}" + "".join(f"{c:>8}" for c in columns)]
    for endpoint in sorted(TRIED):
        total.update(TRIED[endpoint])
        lines.append(f"fuzz: {endpoint:44}" + "".join(f"{TRIED[endpoint][c]:8}" for c in columns))
    lines.append(f"fuzz: {'all ' + str(len(TRIED)) + ' routes':44}" + "".join(f"{total[c]:8}" for c in columns))
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


def _client_for(endpoint: str, world, app, login_as):  # noqa: F811
    level = ACCESS[endpoint].level
    if level == "public":
        return app.test_client(), {}
    if level == "api_key":
        from portal.extensions import db
        from portal.models import Organization
        from portal.services import Actor
        from portal.services.organizations import rotate_api_key

        with app.app_context():
            org_id = world["a"]["admin"].organization_id
            key = rotate_api_key(Actor(org_id, None), db.session.get(Organization, org_id))
            db.session.commit()
        return app.test_client(), {"Authorization": f"Bearer {key}"}
    return login_as(world["a"]["manager" if level == "service_member" else "admin"]), {}


@pytest.mark.parametrize("endpoint", ROUTES)
def test_no_hostile_query_or_form_gets_a_500(endpoint, app, world, login_as):  # noqa: F811
    rule = ACCESS[endpoint]
    names = placeholders(world)
    path, _sep, query = rule.path.format(**names).partition("?")
    url_rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    methods = sorted(url_rule.methods - {"HEAD", "OPTIONS"})
    params = parameter_names(app, endpoint, rule.path, rule.data)
    sane = [(k, v.format(**names)) for k, v in SANE.items() if k in params]
    base_query = [tuple(pair.split("=", 1)) for pair in query.split("&") if pair]
    base_query += [pair for pair in sane if pair[0] not in dict(base_query)]
    base_form = [(k, v.format(**names)) for k, v in rule.data.items()]
    base_form += [pair for pair in sane if pair[0] not in rule.data]
    client, auth_headers = _client_for(endpoint, world, app, login_as)
    token = csrf_token(client) if any(m != "GET" for m in methods) and rule.level != "api_key" else ""
    failures: dict[str, tuple[int, str]] = {}
    counts = TRIED[endpoint]

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(request_strategy(params, base_query, base_form, methods))
    def probe(r):
        query = urlencode(r["query"]) + r["tail"]
        form = list(r["form"])
        if r["csrf"] == "valid":
            form.append(("csrf_token", token))
        elif r["csrf"] == "hostile":
            form.append(("csrf_token", "\x00" * 3 + token[::-1]))
        headers = {**auth_headers, **r["htmx"]}
        if r["language"]:
            headers["Accept-Language"] = r["language"]
        url = path + ("?" + query if query else "")
        body = urlencode(form) if r["method"] != "GET" else None
        counts["tried"] += 1
        counts["fields"] += len(r["query"]) + (len(r["form"]) if body is not None else 0)
        try:
            response = client.open(url, method=r["method"], data=body, headers=headers,
                                    content_type="application/x-www-form-urlencoded" if body is not None else None)
            status = response.status_code
            response.close()
        except Exception as exc:  # TESTING propagates what would be a 500
            status, what = 500, f"{type(exc).__name__}: {str(exc)[:200]}"
        else:
            what = f"HTTP {status}"
        counts[f"{status // 100}xx"] += 1
        if status >= 500:
            repro = f"{r['method']} {url[:300]} body={(body or '')[:300]!r} headers={headers}"
            if what not in failures or len(repro) < len(failures[what][1]):
                failures[what] = (status, repro)

    for explicit in sweep(params, base_query, base_form, methods):
        probe = example(explicit)(probe)
    probe()
    assert not failures, "\n".join(f"{what}\n    {repro}" for what, (_s, repro) in failures.items())
