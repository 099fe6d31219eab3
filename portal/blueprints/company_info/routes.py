"""Company info (회사정보 관리): entries for help-center footers, and applying them (반영) per service and language."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func

from portal.access import org_admin_required
from portal.blueprints.actions import act, attempt, current_actor
from portal.blueprints.company_info import bp
from portal.forms import ConfirmForm
from portal.errors import form_expired
from portal.extensions import db
from portal.models import CompanyInfo, Service, ServiceStatus
from portal.params import int_arg
from portal.services import company_info
from portal.services.catalog import language_name, languages
from portal.tenancy import get_or_404, scoped

FIELDS = ("title", "language", "company_name", "representative", "address", "business_number", "phone", "email",
          "trademark", "terms_md", "privacy_md")


@bp.get("")
@org_admin_required
def index():
    entries = list(db.session.scalars(scoped(CompanyInfo).order_by(func.lower(CompanyInfo.title))))
    usage = {e.id: company_info.services_applying(e) for e in entries}
    return render_template("company_info/index.html", entries=entries, usage=usage, form=ConfirmForm(),
                           language_name=language_name)


def _form_page(entry: CompanyInfo | None, values: dict, error: str | None, field: str | None, status: int):
    return render_template("company_info/form.html", entry=entry, values=values, error=error, error_field=field,
                           field_names=FIELDS, form=ConfirmForm(), languages=languages()), status


@bp.route("/new", methods=["GET", "POST"])
@org_admin_required
def new():
    if request.method == "GET":
        return _form_page(None, {"language": "ko"}, None, None, 200)
    values = {k: request.form.get(k, "") for k in FIELDS}
    if not ConfirmForm().validate_on_submit():
        return _form_page(None, values, form_expired(), None, 400)
    entry, refusal = attempt(lambda: company_info.create(current_actor(), values))
    if refusal:
        return _form_page(None, values, refusal.message, refusal.code, 422)
    flash(_("%(title)s is saved.", title=entry.title), "success")
    return redirect(url_for("company_info.index"), code=303)


@bp.route("/<int:entry_id>", methods=["GET", "POST"])
@org_admin_required
def edit(entry_id: int):
    entry = get_or_404(CompanyInfo, id=entry_id)
    if request.method == "GET":
        return _form_page(entry, {k: getattr(entry, k) or "" for k in FIELDS}, None, None, 200)
    values = {k: request.form.get(k, "") for k in FIELDS}
    if not ConfirmForm().validate_on_submit():
        return _form_page(entry, values, form_expired(), None, 400)
    _saved, refusal = attempt(lambda: company_info.update(current_actor(), entry, values))
    if refusal:
        return _form_page(entry, values, refusal.message, refusal.code, 422)
    flash(_("%(title)s is saved. Help centers showing it changed at once.", title=entry.title), "success")
    return redirect(url_for("company_info.index"), code=303)


@bp.post("/<int:entry_id>/delete")
@org_admin_required
def delete(entry_id: int):
    entry = get_or_404(CompanyInfo, id=entry_id)
    return act(lambda: company_info.delete(current_actor(), entry), _("The company info is deleted."),
               url_for("company_info.index"))


@bp.route("/apply", methods=["GET", "POST"])
@org_admin_required
def apply():
    """반영: per service and help-center language, the entry its footer shows."""
    services = list(db.session.scalars(scoped(Service).where(Service.status != ServiceStatus.terminated)
                                       .order_by(func.lower(Service.name))))
    entries = list(db.session.scalars(scoped(CompanyInfo).order_by(func.lower(CompanyInfo.title))))
    if request.method == "POST":
        service = get_or_404(Service, service_key=request.form.get("service", ""))
        language = request.form.get("language", "")
        entry_id = int_arg("company_info_id", source=request.form)  # blank: the footer shows none
        entry = get_or_404(CompanyInfo, id=entry_id) if entry_id is not None else None
        return act(lambda: company_info.apply(current_actor(), service, language, entry),
                   _("The footer of %(name)s (%(lang)s) is updated.", name=service.name,
                     lang=language_name(language)), url_for("company_info.apply"))
    footers = company_info.footers_of([s.id for s in services])
    return render_template("company_info/apply.html", services=services, entries=entries, footers=footers,
                           form=ConfirmForm(), language_name=language_name)
