"""The contract of a service: sign or change it (step 2 of a new service, and later edits), with a live estimate."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.access import org_admin_required
from portal.blueprints.actions import attempt, current_actor
from portal.blueprints.contracts import bp
from portal.blueprints.contracts.forms import ContractForm
from portal.blueprints.contracts.routes import org_service
from portal.models import Service
from portal.services import ServiceError, contracts, parse_whole, whole_number
from portal.services.price_list import MAX_QUANTITY, estimate, features


def parse_quantities(form_data, *, empty_starts: bool = False) -> tuple[dict[str, int], dict[str, str]]:
    """Read `use.<key>` / `qty.<key>` pairs; return quantities and per-feature error messages. With
    `empty_starts` (the estimate, Recalculate) a feature switched on without a quantity counts at its starting
    quantity; a contract is signed only with the quantities the admin saw."""
    quantities, errors = {}, {}
    for f in features():
        used = f.required or form_data.get(f"use.{f.key}") in ("on", "1", "yes")
        if not used:
            continue
        if f.flat:
            quantities[f.key] = 1
            continue
        raw = (form_data.get(f"qty.{f.key}") or "").strip().replace(",", "")
        if not raw and empty_starts:
            quantities[f.key] = f.start_quantity
            continue
        qty = whole_number(raw, 1, MAX_QUANTITY[f.unit])
        if qty is None:
            errors[f.key] = (_("Enter a whole number.") if parse_whole(raw) is None
                             else _("Enter a number from 1 to %(max)s.", max=f"{MAX_QUANTITY[f.unit]:,}"))
            continue
        quantities[f.key] = qty
    return quantities, errors


def _contract_context(service: Service, quantities: dict[str, int], errors: dict[str, str]) -> dict:
    current = contracts.current_contract(service)
    proposed = None
    if not errors:
        try:
            proposed = estimate(quantities)
        except ServiceError as exc:
            errors = {**errors, "_form": exc.message}
    difference = contracts.price_difference(service, proposed) if proposed is not None else None
    locked_until = contracts.next_change_at(service)
    return {
        "service": service, "current": current, "features": features(), "quantities": quantities,
        "errors": errors, "proposed": proposed, "difference": difference, "locked_until": locked_until,
        "lock_notice": contracts.locked_message(service, locked_until) if locked_until else None,
        "history": contracts.contract_history(service),
    }


@bp.route("/services/<service_key>/contract", methods=["GET", "POST"])
@org_admin_required
def contract(service_key: str):
    service = org_service(service_key)
    form = ContractForm()
    current = contracts.current_contract(service)
    if request.method == "GET":
        quantities = contracts.quantities_of(current) or {f.key: 1 for f in features() if f.required}
        form.base_version.data = current.version if current else None
        return render_template("contracts/contract.html", form=form,
                               **_contract_context(service, quantities, {}))
    if request.form.get("recalculate"):  # the estimate without JavaScript: nothing is signed
        quantities, errors = parse_quantities(request.form, empty_starts=True)
        return render_template("contracts/contract.html", form=form,
                               **_contract_context(service, quantities, errors)), 422 if errors else 200
    quantities, errors = parse_quantities(request.form)
    refused, code = None, 422  # a refusal is said above the form; the estimate stays in its card
    if not form.validate_on_submit():
        refused = _("The form is incomplete. Reload the page and try again.")
    elif not errors:
        _signed, refusal = attempt(lambda: contracts.sign_contract(current_actor(), service, quantities,
                                                                   base_version=form.base_version.data))
        if refusal is None:
            was_new = current is None
            flash(_("The contract of %(name)s is signed. The service is in use.", name=service.name) if was_new
                  else _("The contract of %(name)s is changed from today.", name=service.name), "success")
            return redirect(url_for("contracts.status"), code=303)
        refused = refusal.message
        code = 409 if refusal.code in ("once_a_day", "stale", "terminated") else 422
    return render_template("contracts/contract.html", form=form, refused=refused,
                           **_contract_context(service, quantities, errors)), code


@bp.post("/services/<service_key>/contract/estimate")
@org_admin_required
def contract_estimate(service_key: str):
    """The live estimate (HTMX): re-rendered on every change of the contract form."""
    service = org_service(service_key)
    quantities, errors = parse_quantities(request.form, empty_starts=True)
    context = _contract_context(service, quantities, errors)
    return render_template("contracts/_estimate.html", **context), 422 if context["errors"] else 200


