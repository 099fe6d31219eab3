"""Configuration, health, error pages, body limits and the operator's CLI."""
import pytest
from sqlalchemy import select

from portal import create_app
from portal.config import DEV_SECRET_KEY
from portal.extensions import db
from portal.models import Invitation, Member, MemberStatus, Organization, Service, ServiceMember
from tests.conftest import csrf_token, make_test_config


def test_production_refuses_the_dev_secret_key(monkeypatch, database_url):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(make_test_config(database_url))


def test_production_marks_cookies_secure(monkeypatch, database_url):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-real-secret-from-the-environment")
    app = create_app(make_test_config(database_url))
    assert app.config["SECRET_KEY"] != DEV_SECRET_KEY
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MAX_UPLOAD_MB", "7")
    monkeypatch.setenv("PORTAL_BASE_DOMAIN", "portal.example")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example/portal")
    app = create_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 7 * 1024 * 1024
    assert app.config["PORTAL_BASE_DOMAIN"] == "portal.example"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.example/portal"


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite only")
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_health_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"database": "ok", "redis": "ok", "status": "ok"}


def test_health_is_503_when_redis_is_down(database_url):
    config = make_test_config(database_url) | {"REDIS_URL": "redis://127.0.0.1:1/0"}
    response = create_app(config).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["redis"].startswith("error")
    assert response.json["database"] == "ok"


def test_unknown_page_is_a_full_404_page_for_browsers_and_a_fragment_for_htmx(client, login_as, make):
    c = login_as(make.admin_of(make.org()))
    page = c.get("/no/such/page")
    assert page.status_code == 404 and "<html" in page.get_data(as_text=True)
    fragment = c.get("/no/such/page", headers={"HX-Request": "true"})
    assert fragment.status_code == 404
    assert "<html" not in fragment.get_data(as_text=True) and "error-box" in fragment.get_data(as_text=True)


def test_oversized_body_is_refused_with_413_in_the_ui_language(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    try:
        response = client.post("/login", data={"x": "y" * 5000}, headers={"Accept-Language": "en"})
    finally:
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_MB"] * 1024 * 1024
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_htmx_requests_need_the_csrf_header(client, login_as, make):
    c = login_as(make.admin_of(make.org()))
    without = c.post("/language", data={"code": "en"}, headers={"HX-Request": "true"})
    assert without.status_code == 400
    token = csrf_token(c)
    with_header = c.post("/language", data={"code": "en"}, headers={"HX-Request": "true", "X-CSRFToken": token})
    # accepted: htmx is told to load the page again, in the new language
    assert with_header.status_code == 204 and with_header.headers["HX-Refresh"] == "true"


def test_org_create_with_password_makes_an_active_admin_and_is_idempotent(runner, app):
    args = ["org", "create", "--name", "Acme", "--domain", "acme", "--admin-login", "boss",
            "--admin-email", "boss@acme.example", "--password", "correct-horse-42"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    assert "Created organization Acme" in first.output
    second = runner.invoke(args=args)
    assert second.exit_code == 0 and "nothing changed" in second.output
    with app.app_context():
        assert db.session.scalars(select(Organization)).all().__len__() == 1
        boss = db.session.scalars(select(Member).filter_by(login_id="boss")).one()
        assert boss.is_org_admin and boss.status == MemberStatus.active


def test_org_create_without_password_invites_the_admin(runner, app, caplog):
    result = runner.invoke(args=["org", "create", "--name", "Beta", "--domain", "beta", "--admin-login", "lead",
                                 "--admin-email", "lead@beta.example"])
    assert result.exit_code == 0, result.output
    assert "http://portal.test/invite/" in result.output
    with app.app_context():
        lead = db.session.scalars(select(Member).filter_by(login_id="lead")).one()
        assert lead.status == MemberStatus.invited and lead.password_hash is None
        assert db.session.scalars(select(Invitation)).one().member_id == lead.id


@pytest.mark.parametrize("domain", ["Bad Domain", "-lead", "한글", "a" * 64, ""])
def test_org_create_refuses_a_bad_domain_and_writes_nothing(runner, app, domain):
    result = runner.invoke(args=["org", "create", "--name", "X", "--domain", domain, "--admin-login", "x1",
                                 "--admin-email", "x@x.example", "--password", "good-pass-123"])
    assert result.exit_code != 0
    with app.app_context():
        assert db.session.scalars(select(Organization)).first() is None


def test_org_create_refuses_a_domain_taken_by_another_admin(runner, make, app):
    make.org(domain="taken")
    result = runner.invoke(args=["org", "create", "--name", "X", "--domain", "taken", "--admin-login", "intruder",
                                 "--admin-email", "i@x.example", "--password", "good-pass-123"])
    assert result.exit_code != 0
    with app.app_context():
        assert db.session.scalars(select(Member).filter_by(login_id="intruder")).first() is None


def test_seed_demo_creates_the_demo_logins_once(runner, app, auth):
    first = runner.invoke(args=["seed-demo", "--password", "demo-pass-9876"])
    assert first.exit_code == 0, first.output
    for login in ("admin", "manager", "agent"):
        assert login in first.output
    with app.app_context():
        counts = (db.session.query(Member).count(), db.session.query(Service).count(),
                  db.session.query(ServiceMember).count())
    second = runner.invoke(args=["seed-demo", "--password", "demo-pass-9876"])
    assert "nothing changed" in second.output
    with app.app_context():
        assert counts == (db.session.query(Member).count(), db.session.query(Service).count(),
                          db.session.query(ServiceMember).count())
        agent = db.session.scalars(select(Member).filter_by(login_id="agent")).one()
        links = db.session.scalars(select(ServiceMember).filter_by(member_id=agent.id)).all()
        assert any(link.can_ticket and link.can_chat and link.can_phone for link in links)
        manager = db.session.scalars(select(Member).filter_by(login_id="manager")).one()
        assert any(l.role.value == "manager" for l in db.session.scalars(select(ServiceMember).filter_by(member_id=manager.id)))
    assert auth.login(agent, password="demo-pass-9876").status_code == 303


def test_migrations_match_the_models(app):
    """A model change without a migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_a_crash_shows_a_friendly_500_page_and_rolls_back(database_url, make):
    org = make.org()
    app = create_app(make_test_config(database_url) | {"PROPAGATE_EXCEPTIONS": False})

    @app.get("/boom")
    def boom():
        db.session.add(Organization(name="half-written", domain="halfwritten"))
        db.session.flush()
        raise RuntimeError("boom")

    client = app.test_client()
    page = client.get("/boom", headers={"Accept-Language": "en"})
    assert page.status_code == 500
    assert "Nothing was changed" in page.get_data(as_text=True) and "<html" in page.get_data(as_text=True)
    fragment = client.get("/boom", headers={"HX-Request": "true"})
    assert fragment.status_code == 500 and "<html" not in fragment.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Organization).filter_by(domain="halfwritten")).first() is None


def test_forbidden_page_is_a_fragment_for_htmx(login_as, make):
    org = make.org()
    agent = make.member(org, "agentx")
    c = login_as(agent)
    assert c.get("/admin/services").status_code == 403
    fragment = c.get("/admin/services", headers={"HX-Request": "true", "Accept-Language": "en"})
    assert fragment.status_code == 403
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "You do not have permission" in body


def test_suspended_service_workspace_is_refused_with_a_reason(login_as, make):
    from portal.models import ServiceStatus

    org = make.org()
    service = make.service(org, "paused", name="Paused Desk", status=ServiceStatus.suspended)
    agent = make.member(org, "agenty")
    make.place(service, agent)
    response = login_as(agent).get("/workspace/paused", headers={"Accept-Language": "en"})
    assert response.status_code == 403
    assert "Paused Desk is not active" in response.get_data(as_text=True)


def test_scoped_lookup_never_returns_another_organizations_row(app, make):
    from portal.tenancy import get_or_404
    from werkzeug.exceptions import NotFound

    mine, theirs = make.org(), make.org()
    make.service(theirs, "shared")
    own = make.service(mine, "shared", name="Mine")
    with app.app_context():
        assert get_or_404(Service, organization_id=mine.id, service_key="shared").id == own.id
        with pytest.raises(NotFound):
            get_or_404(Service, organization_id=mine.id, service_key="nothere")


def test_jobs_schedule_schedules_month_closing_once(runner, app):
    from portal.models import JobRun

    assert runner.invoke(args=["jobs", "schedule"]).exit_code == 0
    assert runner.invoke(args=["jobs", "schedule"]).exit_code == 0
    with app.app_context():
        assert db.session.query(JobRun).filter_by(kind="billing.close_months").count() == 1


def test_jobs_schedule_also_schedules_the_sweeps_and_the_cti_log_cleanup_once_each(runner, app):
    from portal.queue import get_queue

    runner.invoke(args=["jobs", "schedule"])
    runner.invoke(args=["jobs", "schedule"])
    with app.app_context():
        scheduled = get_queue("scheduled").scheduled_job_registry.get_job_ids()
    for prefix in ("migration-sweep-", "cti-log-purge-", "agents-sweep-"):
        # One job per time slot: twice only if the two runs straddle a slot boundary.
        assert 1 <= len([j for j in scheduled if j.startswith(prefix)]) <= 2, (prefix, scheduled)
