"""The organization's own info (name, domain, idle timeout) and its Open API key."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.access import org_admin_required
from portal.blueprints.actions import attempt, current_actor
from portal.blueprints.contracts import bp
from portal.blueprints.contracts.forms import OrganizationForm, RotateKeyForm
from portal.htmx import render
from portal.models.base import utcnow
from portal.services import whole_number
from portal.services.organizations import GRACE_HOURS, masked_api_key, rotate_api_key, update_organization


@bp.route("/organization", methods=["GET", "POST"])
@org_admin_required
def organization():
    org = current_user.organization
    form = OrganizationForm(obj=None if request.method == "POST" else org)
    if request.method == "GET":
        form.idle_timeout.data = str(org.idle_timeout_minutes)
    error = None
    if form.validate_on_submit():
        _saved, refusal = attempt(lambda: update_organization(
            current_actor(), org, name=form.name.data, domain=form.domain.data,
            idle_timeout=form.idle_timeout.data if form.idle_timeout.raw_data else None))
        if refusal:
            target = {"bad_idle_timeout": form.idle_timeout}.get(refusal.code) or (
                form.domain if "domain" in refusal.code else form.name)
            target.errors = [refusal.message]
        else:
            flash(_("The organization info is saved."), "success")
            return redirect(url_for("contracts.organization"), code=303)
    status_code = 422 if form.is_submitted() else 200
    org = current_user.organization
    return render_template("contracts/organization.html", org=org, form=form, error=error,
                           masked_key=masked_api_key(org), rotate_form=RotateKeyForm(), now=utcnow(),
                           base_domain=current_app.config["PORTAL_BASE_DOMAIN"]), status_code


@bp.route("/organization/api-key", methods=["GET", "POST"])
@org_admin_required
def rotate_key():
    org = current_user.organization
    form = RotateKeyForm()
    grace = request.form.get("grace", "0")
    if form.validate_on_submit():
        hours = whole_number(grace, 0, max(GRACE_HOURS))
        # -1: refused with the service's own message
        key, refusal = attempt(lambda: rotate_api_key(current_actor(), org, -1 if hours is None else hours))
        if refusal:
            return render("contracts/rotate_key.html", partial="contracts/_rotate_key.html", org=org, form=form,
                          masked_key=masked_api_key(org), grace_hours=GRACE_HOURS, values=request.form,
                          error=refusal.message), 422
        response = render("contracts/api_key_shown.html", partial="contracts/_api_key_shown.html", org=org, key=key)
        return response, 200, {"Cache-Control": "no-store"}
    status_code = 422 if form.is_submitted() else 200
    return render("contracts/rotate_key.html", partial="contracts/_rotate_key.html", org=org, form=form,
                  masked_key=masked_api_key(org), grace_hours=GRACE_HOURS, values=request.form), status_code
