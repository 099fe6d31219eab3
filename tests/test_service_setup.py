"""A service starts with what its pages read (CTI settings, the system ticket fields); services created before
that rule get them from a data migration, the same as a new service's."""
import importlib.util
from pathlib import Path

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import delete, select

from portal.extensions import db
from portal.models import CtiSettings, TicketField

MIGRATION = Path(__file__).parent.parent / "migrations/versions/20261129_1000_service_rows_created_with_the_service.py"
COMPARED = ("key", "system", "type", "label_ko", "label_en", "required", "choices", "position")


def _fields(service_id: int) -> list[tuple]:
    rows = db.session.scalars(select(TicketField).where(TicketField.service_id == service_id)
                              .order_by(TicketField.position))
    return [tuple(getattr(f, name) for name in COMPARED) for f in rows]


def _settings(service_id: int) -> tuple:
    s = db.session.scalars(select(CtiSettings).where(CtiSettings.service_id == service_id)).one()
    return (s.organization_id, s.version, s.mobile_activated, s.tenant_id, s.log_monitoring, s.after_call_bulk,
            s.outbound_auto_ticket, s.log_retention_days, s.acw_limit_seconds)


def _run_migration() -> None:
    spec = importlib.util.spec_from_file_location("service_rows_migration", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with db.engine.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        module.upgrade()


def test_a_new_service_has_its_cti_settings_and_system_fields(make, app):
    org = make.org()
    service = make.service(org)
    with app.app_context():
        assert _settings(service.id)[0] == org.id
        keys = [f[0] for f in _fields(service.id)]
        assert keys[:2] == ["title", "body"] and len(keys) == 14


def test_services_created_before_get_the_same_rows_from_the_migration(make, app):
    org = make.org()
    older, newer = make.service(org), make.service(org)
    with app.app_context():
        expected_fields, expected_settings = _fields(newer.id), _settings(newer.id)
        db.session.execute(delete(TicketField).where(TicketField.service_id == older.id))
        db.session.execute(delete(CtiSettings).where(CtiSettings.service_id == older.id))
        db.session.commit()
        _run_migration()
        db.session.expire_all()
        assert _fields(older.id) == expected_fields and _settings(older.id) == expected_settings
        assert _fields(newer.id) == expected_fields  # a service that had them keeps them, once
