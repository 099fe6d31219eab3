"""The contact-center management portal: `create_app` builds a configured Flask app."""
from __future__ import annotations

import os
import sqlite3
import weakref
from typing import Any

from dotenv import load_dotenv
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.routing import IntegerConverter


def create_app(config: dict[str, Any] | None = None) -> Flask:
    # The imports below are inside the factory on purpose: every module of the portal imports this package
    # first, so the package may load the app's parts (models, blueprints, jobs) only when an app is built.
    load_dotenv(os.environ.get("PORTAL_DOTENV", ".env"), override=False)
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)

    from portal.config import Config, validate

    app.config.from_object(Config(app.instance_path))
    if config:
        app.config.update(config)
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_MB"] * 1024 * 1024
    validate(app.config)

    from portal.services.price_list import features

    features()  # a malformed price list stops start-up instead of pricing contracts wrongly
    app.url_map.converters["int"] = DatabaseId
    _init_extensions(app)
    from portal import transactions

    transactions.register(app)  # before any hook that writes: it commits after them
    _register_blueprints(app)

    from portal import cli, errors, htmx, json_bounds, layout, params, security

    errors.register(app)
    htmx.register(app)
    json_bounds.register(app)
    params.register(app)
    from portal import templating

    templating.register(app)
    layout.register(app)
    cli.register(app)
    security.register(app)
    from jobs import load_all

    load_all()  # fills the job registry (portal.services.jobs) that services start jobs from, by name
    if app.config["WARM_UP"]:
        warm_up(app)
    return app


def warm_up(app: Flask) -> None:
    """Build now what the first requests would otherwise build one by one (0.8–1.3 s of a fresh process's first
    pages): every template compiled, both languages' catalogs (ours and WTForms'), the help-center language names
    (Babel's CLDR data for some 170 locales), the time zones, the ORM's mappers, the URL map's matcher. Called in
    the process that forks the others (a `gunicorn --preload` master), so that every process forked from it
    inherits all of it. Touches no database and no Redis. The language names are most of it (≈ 3 s, ≈ 120 MB)."""
    from flask_babel import force_locale, get_translations
    from sqlalchemy.orm import configure_mappers

    from portal.config import SUPPORTED_LOCALES
    from portal.forms import _translations
    from portal.i18n import language_choices
    from portal.services import catalog

    configure_mappers()
    catalog.languages()
    catalog.language_codes()
    catalog.time_zones()
    language_choices()
    env = app.jinja_env
    for name in env.list_templates(filter_func=lambda name: name.endswith((".html", ".txt"))):
        env.get_template(name)
    with app.test_request_context("/"):  # binds the URL map: its matcher is built on first use
        for locale in SUPPORTED_LOCALES:
            with force_locale(locale):
                get_translations()
            _translations(locale)


class DatabaseId(IntegerConverter):
    """`<int:…>` in every route matches 0 … 2³¹−1 only: a larger number is a 404, not a database error
    (PostgreSQL's integer and SQLite's INTEGER would overflow)."""

    def __init__(self, url_map, fixed_digits=0, min=0, max=2**31 - 1, signed=False):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def _init_extensions(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l

    from portal import models  # noqa: F401  (every table registered before Alembic looks)
    from portal.access import log_in_first
    from portal.extensions import babel, csrf, db, limiter, login_manager, mail, migrate
    from portal.i18n import select_locale

    db.init_app(app)
    with app.app_context():
        _engines.update(db.engines.values())
    migrate.init_app(app, db, render_as_batch=True, directory=os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, "migrations")))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    mail.init_app(app)
    limiter.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.unauthorized_handler(log_in_first)

    @login_manager.user_loader
    def load_member(session_id: str):
        from portal.services.accounts import member_for_session

        return member_for_session(session_id)


def _register_blueprints(app: Flask) -> None:
    from portal.blueprints import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    from portal.blueprints.api import register as register_api

    register_api(app)


# Every engine of every app built in this process, and, in a forked child, the pools it inherited.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
_inherited_pools: list = []


def _fresh_pools_in_child() -> None:
    """A forked process (an RQ work horse, a gunicorn worker of `--preload`) opens connections of its own: the ones
    in its parent's pools are the parent's, still in use there. They are neither used nor closed here (closing a
    socket or an SQLite handle from the child could end the parent's session), only kept out of the way until this
    process exits. Redis clients need nothing: redis-py's pools see the new pid and start afresh."""
    for engine in list(_engines):
        _inherited_pools.append(engine.pool)
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_fresh_pools_in_child)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets readers run beside the writer; busy_timeout waits for a lock instead of failing at once."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
