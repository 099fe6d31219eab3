"""Data migration (데이터 이관): template, upload, live check, confirm (reserve), delete, and the batch list."""
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from portal.access import org_admin_required
from portal.blueprints.actions import act, attempt, current_actor
from portal.blueprints.migrations import bp
from portal.downloads import xlsx_attachment
from portal.errors import form_expired
from portal.extensions import db
from portal.forms import ConfirmForm
from portal.htmx import render
from portal.models import BatchStatus, Member, MigrationBatch, Service, ServiceStatus
from portal.params import page_arg
from portal.services import migration
from portal.services.jobs import start_job
from portal.services.migration_files import template_workbook
from portal.services.ticket_fields import fields_of
from portal.tenancy import get_or_404, scoped

PAGE_SIZE = 50


def _open_services():
    return list(db.session.scalars(scoped(Service).where(
        Service.status.in_([ServiceStatus.active, ServiceStatus.suspended])).order_by(func.lower(Service.name))))


@bp.get("")
@org_admin_required
def index():
    page = page_arg()
    query = scoped(MigrationBatch)
    if request.args.get("show") != "all":
        query = query.where(MigrationBatch.status != BatchStatus.deleted)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    batches = list(db.session.scalars(query.order_by(MigrationBatch.created_at.desc(), MigrationBatch.id.desc())
                                      .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    services = {s.id: s for s in db.session.scalars(scoped(Service))}
    uploaders = {m.id: m for m in db.session.scalars(scoped(Member).where(
        Member.id.in_({b.uploader_id for b in batches if b.uploader_id})))}
    return render_template("migrations/index.html", batches=batches, services=services, uploaders=uploaders,
                           page=page, pages=max(1, -(-total // PAGE_SIZE)), form=ConfirmForm())


@bp.route("/new", methods=["GET", "POST"])
@org_admin_required
def new():
    services = _open_services()
    chosen = request.values.get("service", services[0].service_key if services else "")
    if services and chosen not in {s.service_key for s in services}:
        abort(404)  # another organization's, or a draft or terminated service
    form, error = ConfirmForm(), None
    if request.method == "POST":
        service = get_or_404(Service, service_key=chosen)
        upload = request.files.get("file")
        if not form.validate_on_submit():
            error = form_expired()
        elif upload is None or not upload.filename:
            error = _("Choose the filled template (.xlsx) to upload.")
        else:
            batch, refusal = attempt(lambda: migration.upload(current_actor(), service, upload.filename,
                                                              upload.read()))
            if refusal:
                error = refusal.message
            else:
                start_job("migration.check", batch.id, organization_id=current_user.organization_id,
                          member_id=current_user.id)
                return redirect(url_for("migrations.detail", batch_id=batch.id), code=303)
    return render_template("migrations/new.html", services=services, chosen=chosen, form=form,
                           error=error), 422 if error else 200


@bp.get("/template/<service_key>.xlsx")
@org_admin_required
def template(service_key: str):
    service = get_or_404(Service, service_key=service_key)
    fields = fields_of(service)
    lang = "ko" if str(get_locale()) == "ko" else "en"
    return xlsx_attachment(template_workbook(service, fields, lang), f"migration-template-{service.service_key}.xlsx")


def _batch(batch_id: int) -> MigrationBatch:
    return get_or_404(MigrationBatch, id=batch_id)


@bp.get("/<int:batch_id>")
@org_admin_required
def detail(batch_id: int):
    batch = _batch(batch_id)
    return render("migrations/detail.html", partial="migrations/_status.html", batch=batch,
                  service=db.session.get(Service, batch.service_id), form=ConfirmForm())


@bp.get("/<int:batch_id>/progress")
@org_admin_required
def progress(batch_id: int):
    """The batch's status as a fragment: it polls itself while the check runs, then shows the summary."""
    batch = _batch(batch_id)
    return render_template("migrations/_status.html", batch=batch, service=db.session.get(Service, batch.service_id),
                           form=ConfirmForm())


@bp.get("/<int:batch_id>/errors.xlsx")
@org_admin_required
def errors(batch_id: int):
    """The error report, in the language of whoever downloads it."""
    report = migration.error_report(_batch(batch_id))
    if report is None:
        abort(404)
    return xlsx_attachment(report, f"migration-errors-{batch_id}.xlsx")


@bp.post("/<int:batch_id>/confirm")
@org_admin_required
def confirm(batch_id: int):
    batch = _batch(batch_id)
    if request.form.get("understood") != "on":
        flash(_("Tick the box to confirm you read the cautions."), "error")
        return redirect(url_for("migrations.detail", batch_id=batch.id), code=303)

    def reserve() -> MigrationBatch:
        migration.confirm(current_actor(), batch, assign_after_apply=request.form.get("assign_after_apply") == "on")
        start_job("migration.apply", batch.id, organization_id=batch.organization_id, member_id=current_user.id,
                  at=batch.scheduled_for)
        return batch

    return act(reserve, lambda reserved: _(
        "The batch is reserved. It will be applied at %(when)s.",
        when=reserved.scheduled_for.astimezone(_zone(reserved)).strftime("%Y-%m-%d %H:%M %Z")),
        url_for("migrations.index"), refused_back=url_for("migrations.detail", batch_id=batch.id))


def _zone(batch: MigrationBatch):
    return ZoneInfo(db.session.get(Service, batch.service_id).time_zone)


@bp.post("/<int:batch_id>/delete")
@org_admin_required
def delete(batch_id: int):
    batch = _batch(batch_id)
    done = (_("The batch %(file)s is deleted.", file=batch.filename) if batch.status == BatchStatus.reserved
            else _("%(file)s is removed from the list.", file=batch.filename))
    return act(lambda: migration.delete(current_actor(), batch), done, url_for("migrations.index"))
