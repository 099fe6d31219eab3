"""One transaction per request: what a view flushed is committed when it answers below 400, before the answer
goes out, and rolled back otherwise; a refused service call undoes only what it wrote; mail-like work waits for
the commit."""
import pytest
from flask import Blueprint, flash, get_flashed_messages, redirect

from portal import create_app
from portal.blueprints.actions import attempt
from portal.extensions import db
from portal.models import Organization
from portal.services import ServiceError
from portal.transactions import after_commit
from tests.conftest import make_test_config

AFTER_COMMIT = []


def _rename(org_id: int, name: str) -> None:
    db.session.get(Organization, org_id).name = name
    db.session.flush()


def _refused_rename(org_id: int) -> None:
    _rename(org_id, "Refused")
    after_commit(lambda: AFTER_COMMIT.append("Refused"))
    raise ServiceError("refused", "refused")


@pytest.fixture
def probe(app, database_url, make):
    """An app with a few views that write and answer in different ways (the session's app takes no new routes)."""
    probe_app = create_app(make_test_config(database_url))
    bp = Blueprint("probe", __name__)

    @bp.post("/probe/<int:org_id>/<name>/<int:status>")
    def rename(org_id: int, name: str, status: int):
        _rename(org_id, name)
        after_commit(lambda: AFTER_COMMIT.append(name))
        if status == 303:
            return redirect("/probe/next", code=303)
        if status == 500:
            raise RuntimeError("boom")
        return name, status

    @bp.post("/probe/<int:org_id>/refused")
    def refused(org_id: int):
        _rename(org_id, "Kept")
        after_commit(lambda: AFTER_COMMIT.append("Kept"))
        _result, refusal = attempt(lambda: _refused_rename(org_id))
        flash(refusal.message, "error")
        return redirect("/probe/next", code=303)

    @bp.get("/probe/flashes")
    def flashes():
        return {"messages": get_flashed_messages()}

    probe_app.register_blueprint(bp)
    probe_app.config.update(WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False)  # a crash answers 500 here
    AFTER_COMMIT.clear()
    return {"client": probe_app.test_client(), "org": make.org(name="Before")}


def _name(app, org_id: int) -> str:
    with app.app_context():
        return db.session.get(Organization, org_id).name


@pytest.mark.parametrize("status", [200, 303])
def test_an_answer_below_400_commits_once_then_runs_what_waits_for_the_commit(probe, app, status):
    response = probe["client"].post(f"/probe/{probe['org'].id}/Committed/{status}")
    assert response.status_code == status
    assert _name(app, probe["org"].id) == "Committed" and AFTER_COMMIT == ["Committed"]


@pytest.mark.parametrize("status", [400, 409, 422, 500])
def test_an_error_answer_or_an_exception_keeps_nothing(probe, app, status):
    response = probe["client"].post(f"/probe/{probe['org'].id}/Lost/{status}")
    assert response.status_code == status
    assert _name(app, probe["org"].id) == "Before" and AFTER_COMMIT == []


def test_a_refusal_undoes_only_what_its_call_wrote_even_behind_a_redirect(probe, app):
    response = probe["client"].post(f"/probe/{probe['org'].id}/refused")
    assert response.status_code == 303
    assert _name(app, probe["org"].id) == "Kept" and AFTER_COMMIT == ["Kept"]
    assert probe["client"].get("/probe/flashes").json["messages"] == ["refused"]
