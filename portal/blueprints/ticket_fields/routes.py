"""Ticket fields of a service (서비스관리 → 티켓 → 필드), for its managers and the org admins."""
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.access import service_role_required
from portal.blueprints.actions import attempt, current_actor
from portal.forms import ConfirmForm
from portal.blueprints.ticket_fields import bp
from portal.errors import form_expired
from portal.htmx import is_htmx
from portal.models import TicketField
from portal.params import int_arg
from portal.services import ticket_fields
from portal.tenancy import get_or_404


# Which field shows a refusal of ticket_fields.add_custom_field / update_field ("_form": the form as a whole).
ERROR_FIELDS = {"bad_key": "key", "key_taken": "key", "bad_type": "type", "bad_label_ko": "label_ko",
                "bad_label_en": "label_en", "no_choices": "choices", "bad_choices": "choices",
                "always_required": "required"}


def _errors(refusal) -> dict:
    return {ERROR_FIELDS.get(refusal.code, "_form"): refusal.message}


def _page(status: int = 200, error: str | None = None, values: dict | None = None, editing: int | None = None,
          errors: dict | None = None, edit_values: dict | None = None):
    """The page (htmx's POSTs get the table). `error` is said above the table (a move or delete refused); `errors`
    at the fields of the add form, or of the row being edited (`editing`, shown with `edit_values` as typed)."""
    fields = ticket_fields.fields_of(g.service)
    template = "ticket_fields/_table.html" if is_htmx() and request.method == "POST" else "ticket_fields/index.html"
    return render_template(template, service=g.service, fields=fields, form=ConfirmForm(), error=error,
                           values=values or {}, types=ticket_fields.CUSTOM_TYPES, editing=editing,
                           errors=errors or {}, edit_values=edit_values,
                           fingerprint=ticket_fields.fingerprint(fields)), status


def _back():
    return redirect(url_for("ticket_fields.index", service_key=g.service.service_key), code=303)


@bp.get("")
@service_role_required("manager")
def index(service_key: str):
    return _page(editing=int_arg("edit"))


@bp.post("")
@service_role_required("manager")
def add(service_key: str):
    values = {k: request.form.get(k, "") for k in ("key", "type", "label_ko", "label_en", "choices")}
    required = request.form.get("required") == "on"
    if not ConfirmForm().validate_on_submit():
        return _page(400, values={**values, "required": required}, errors={"_form": form_expired()})
    _added, refusal = attempt(lambda: ticket_fields.add_custom_field(current_actor(), g.service, required=required,
                                                                     **values))
    if refusal:
        return _page(422, values={**values, "required": required}, errors=_errors(refusal))
    flash(_("The field %(key)s is added. Templates downloaded before now no longer match.", key=values["key"]),
          "success")
    return _back()


def _field(field_id: int) -> TicketField:
    return get_or_404(TicketField, id=field_id, service_id=g.service.id)


def _change_field(change, *, done: str | None = None, editing: int | None = None, typed: dict | None = None):
    """One change to a field: a refusal comes back in the table with 422 (the row still open when editing); a
    success gives htmx the table, and the address of the page without ?edit= (a reload would open the editor
    again), and a plain form the page."""
    if not ConfirmForm().validate_on_submit():
        return _page(400, form_expired(), editing=editing, edit_values=typed)
    _changed, refusal = attempt(change)
    if refusal and editing:
        return _page(422, editing=editing, errors=_errors(refusal), edit_values=typed)
    if refusal:
        return _page(422, refusal.message)
    if done:
        flash(done, "success")
    if not is_htmx():
        return _back()
    table, status = _page()
    return table, status, {"HX-Replace-Url": url_for("ticket_fields.index", service_key=g.service.service_key)}


@bp.post("/<int:field_id>")
@service_role_required("manager")
def update(service_key: str, field_id: int):
    field = _field(field_id)
    # What was typed: a refusal opens the row again with it, the message at the field it concerns.
    typed = {"label_ko": request.form.get("label_ko", ""), "label_en": request.form.get("label_en", ""),
             "required": request.form.get("required") == "on", "choices": request.form.get("choices")}
    return _change_field(lambda: ticket_fields.update_field(current_actor(), g.service, field, **typed),
                         editing=field_id, typed=typed)


@bp.post("/<int:field_id>/move")
@service_role_required("manager")
def move(service_key: str, field_id: int):
    field = _field(field_id)
    return _change_field(lambda: ticket_fields.move_field(current_actor(), g.service, field,
                                                          request.form.get("direction", "")))


@bp.post("/<int:field_id>/delete")
@service_role_required("manager")
def delete(service_key: str, field_id: int):
    field = _field(field_id)
    return _change_field(lambda: ticket_fields.delete_field(current_actor(), g.service, field),
                         done=_("The field %(key)s is deleted.", key=field.key))
