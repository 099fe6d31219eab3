"""Property fuzz of every JSON endpoint of the Open API and of the migration upload: whatever body or sheet
arrives, the answer is never a 500 and a check always ends. Deterministic (derandomized) and bounded: a fixed
number of examples per endpoint. The figures (inputs tried, answers by status) are printed at the end."""
from __future__ import annotations

import io
import json
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from portal.models import BatchStatus
from tests.migration_files import fill
from tests.test_api_schema import api_key  # noqa: F401  (an organization key with a CTI service)
from tests.test_migration import GOOD, batch_of, setup, template, upload, work  # noqa: F401

FIGURES: Counter = Counter()
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
JSON_EXAMPLES = 60
SHEET_EXAMPLES = 12

ENDPOINTS = [
    ("POST", "/api/v1/services"),
    ("PATCH", "/api/v1/services/support"),
    ("POST", "/api/v1/services/support/suspend"),
    ("POST", "/api/v1/services/support/terminate"),
    ("POST", "/api/v1/services/support/contract/estimate"),
    ("PUT", "/api/v1/services/support/contract"),
    ("POST", "/api/v1/cti/events"),
]

# Text an integrator should not send, and text an attacker would.
ODD_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\x00", "\ud800", "\udfff-x", "=HYPERLINK(\"http://evil\")", "\u202e", "' OR 1=1 --",
                     "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "NaN", "", " ", "support",
                     "agent_login", "IB", "base.seat", "x" * 5000]),
)
ODD_NUMBER = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False),
                       st.sampled_from([0, -1, 2**31, 2**63, 2**64, 10**30, 1e308]))
SCALAR = st.one_of(st.none(), st.booleans(), ODD_NUMBER, ODD_TEXT)
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(ODD_TEXT, inner, max_size=4)), max_leaves=12)
# Bodies shaped like the real ones, with odd values in their fields, and bodies of any shape at all.
EVENT = st.fixed_dictionaries({}, optional={k: VALUE for k in (
    "kind", "event_id", "occurred_at", "cti_id", "call_id", "direction", "counterpart", "state", "detail")})
SHAPED = st.fixed_dictionaries({}, optional={
    "service": VALUE, "events": st.one_of(st.lists(EVENT, max_size=4), VALUE), "service_id": VALUE, "name": VALUE,
    "type": VALUE, "languages": VALUE, "default_language": VALUE, "time_zone": VALUE, "revision": VALUE,
    "quantities": st.one_of(st.dictionaries(ODD_TEXT, ODD_NUMBER, max_size=4), VALUE), "base_version": VALUE,
    "confirm_service_id": VALUE})
RAW = st.sampled_from([
    b"", b"{", b"[]", b"null", b"1e999999", b'{"a": NaN}', b"[" * 5000 + b"]" * 5000, b'"\\ud800"',
    b'{"service": "support", "events": [' + b'{"kind": "agent_login"},' * 3000 + b"{}]}", b"\xff\xfe\x00",
    b'{"quantities": {"base.seat": 1' + b"0" * 5000 + b"}}",
])
BODY = st.one_of(SHAPED.map(lambda v: json.dumps(v).encode()), VALUE.map(lambda v: json.dumps(v).encode()), RAW)


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    yield
    if FIGURES:
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_line("hostile input fuzz: " + ", ".join(f"{k} {v}" for k, v in sorted(FIGURES.items())))


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_no_json_body_gives_a_server_error(app, api_key, method, path):
    client = app.test_client()

    @settings(max_examples=JSON_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=BODY, content_type=st.sampled_from(["application/json", "application/json; charset=utf-8",
                                                    "text/plain"]))
    def probe(body, content_type):
        response = client.open(path, method=method, data=body, content_type=content_type,
                               headers={"Authorization": f"Bearer {api_key}", "Accept-Language": "en"})
        FIGURES["json tried"] += 1
        FIGURES[f"json {response.status_code // 100}xx"] += 1
        assert response.status_code < 500, (method, path, body[:200], response.get_data(as_text=True)[:300])
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json"

    probe()


CELL = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**60), max_value=2**60), st.floats(allow_nan=False),
    st.text(max_size=30), st.text(alphabet=st.characters(max_codepoint=0x1f), max_size=5),
    st.sampled_from(["=1+1", "@SUM(A1)", "+82 10", "-x", "_x0000_", "_x0001_title", "a\x01b", "\ud7a3한글",
                     "2026-02-30", "0000-00-00", "9999-12-31 23:59", "y" * 33_000, "agt", "resolved", "angry"]),
)


def test_no_sheet_content_breaks_the_check(setup, app):
    """Generated rows of odd cells, in a real template, uploaded and checked by a real worker: the check
    ends ready or failed, and a failed one has a report that opens."""
    client = setup["client"]
    blank = template(client)

    @settings(max_examples=SHEET_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(rows=st.lists(st.lists(CELL, min_size=1, max_size=16), min_size=1, max_size=4))
    def probe(rows):

        # Control characters as Excel writes them (_x0001_): openpyxl's writer refuses them raw.
        escaped = [[CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", c) if isinstance(c, str) else c for c in row]
                   for row in rows]
        response = upload(client, fill(blank, escaped))
        assert response.status_code == 303
        batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
        work(app)
        batch = batch_of(app, batch_id)
        FIGURES["sheets tried"] += 1
        FIGURES[f"sheet {batch.status.value}"] += 1
        assert batch.status in (BatchStatus.ready, BatchStatus.check_failed), batch.message
        if batch.error_report_file_id:
            report = client.get(f"/admin/migrations/{batch_id}/errors.xlsx")
            load_workbook(io.BytesIO(report.data))

    probe()
