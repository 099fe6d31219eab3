"""The member's own pages: personal settings (with the assignment switch, also one click in the top bar), My
performance, CTI log download, the current service."""
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from portal.access import member_required
from portal.blueprints.actions import act, attempt, current_actor, leave_dialog
from portal.blueprints.me import bp
from portal.blueprints.me.forms import AssignmentForm, PasswordForm, ProfileForm
from portal.downloads import xlsx_attachment
from portal.errors import form_expired
from portal.forms import ConfirmForm
from portal.htmx import is_htmx, render
from portal.layout import (SESSION_SERVICE_KEY, cti_log_services, current_service, my_assignment, my_services,
                           my_time_zone)
from portal.models import Service
from portal.models.base import utcnow
from portal.params import FIRST_DAY, LAST_DAY
from portal.params import day as parse_day
from portal.redirects import safe_referrer
from portal.services import ServiceError, accounts, assignment, cti_log
from portal.services import performance as perf
from portal.services import storage
from portal.services.contracts import local_today
from portal.tenancy import get_or_404


# A datetime-local value (seconds, if a browser sends them, are dropped).
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
# What a datetime-local input sends, in ASCII digits: strptime alone took "२०२७" for 2027 and ignored whatever
# followed the minutes ("…T10:00junk", a leap second's ":60").
_LOCAL_VALUE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-5][0-9](\.[0-9]{1,6})?)?")


def _assignment_form() -> AssignmentForm:
    """The switch as it stands, its time in the member's time zone (never bound to another form's POST)."""
    shown = my_assignment() or assignment.switch_of(current_user)
    until = shown.until.astimezone(ZoneInfo(my_time_zone())).strftime(LOCAL_INPUT) if shown.until else ""
    return AssignmentForm(formdata=None, data={"state": "on" if shown.on else "off", "until": until,
                                               "note": "" if shown.on else (shown.note or "")})


def _settings(profile=None, password=None, assignment_form=None, status=200):
    # formdata=None: a refused password must not empty the profile form (Flask-WTF binds any POST by default).
    profile = profile or ProfileForm(formdata=None, obj=current_user)
    return render("me/settings.html", partial="me/_settings.html", profile=profile,
                  password=password or PasswordForm(formdata=None), assignment=assignment_form or _assignment_form(),
                  focus=request.args.get("section") == "assignment"), status


@bp.get("/settings")
@member_required
def settings():
    return _settings()


def _save(form, change, field_for, saved_message: str, which: str):
    """Validate one settings form, run its service call, put a refusal next to its field (`field_for(code)`)."""
    if form.validate_on_submit():
        _changed, refusal = attempt(change)
        if refusal:
            field_for(refusal.code).errors = [refusal.message]
        else:
            flash(saved_message, "success")
            return leave_dialog(url_for("me.settings"))  # a whole page with the message
    return _settings(**{which: form}, status=422)


@bp.post("/settings/profile")
@member_required
def profile():
    form = ProfileForm()
    return _save(form, lambda: accounts.update_profile(current_user, name=form.name.data, phone=form.phone.data or ""),
                 lambda code: form.phone if code == "bad_phone" else form.name, _("Your profile is saved."), "profile")


@bp.post("/settings/password")
@member_required
def password():
    form = PasswordForm()

    def change():
        member = accounts.change_password(current_user._get_current_object(), current=form.current.data,
                                          new=form.new.data)
        login_user(member)  # stamped with the new generation: this session stays, the member's others end

    return _save(form, change, lambda code: form.current if code == "wrong_password" else form.new,
                 _("Your password is changed. You stay logged in here; other devices are logged out."), "password")


def _local_time(raw: str, zone: str) -> datetime | None:
    """A datetime-local value read in `zone`, as UTC; None when blank; ValueError when it is no such time. Years
    beyond the ones the portal handles are pulled to its bounds (still in the past, or too far ahead)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if not _LOCAL_VALUE.fullmatch(raw):
        raise ValueError(f"{raw[:40]!r} is not a date and time written YYYY-MM-DDTHH:MM")
    moment = datetime.strptime(raw[:16].replace(" ", "T"), LOCAL_INPUT)
    moment = min(max(moment, datetime.combine(FIRST_DAY, datetime.min.time())),
                 datetime.combine(LAST_DAY, datetime.min.time()))
    return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


# Which field of the assignment form shows a refusal of `assignment.switch`.
ASSIGNMENT_ERROR_FIELDS = {"until_past": "until", "until_too_far": "until", "note_too_long": "note",
                           "reason_required": "note"}


def _switched_message(returned: int) -> str:
    shown = my_assignment()
    if shown is None or shown.on:
        message = _("Assignment is on: automatic tickets and chats come to you again.")
    elif shown.until:
        zone = my_time_zone()
        message = _("Assignment is off until %(when)s (%(zone)s).",
                    when=shown.until.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M"), zone=zone)
    else:
        message = _("Assignment is off until you turn it on.")
    if returned:
        message += " " + _("Tickets returned to the queue: %(n)d.", n=returned)
    return message


@bp.post("/settings/assignment")
@member_required
def assignment_settings():
    """The switch with its options: off until a time (read in the member's time zone), a note, and the member's
    open tickets back to the queue. A refusal is shown at its field, the form as typed."""
    form = AssignmentForm()
    if form.validate_on_submit():
        off = form.state.data == "off"
        try:
            until = _local_time(form.until.data, my_time_zone()) if off else None
        except ValueError:
            form.until.errors = [_("Enter dates and times as YYYY-MM-DD HH:MM.")]
        else:
            member = current_user._get_current_object()
            returned, refusal = attempt(lambda: assignment.switch(
                current_actor(), member, not off, until=until, note=form.note.data if off else None,
                return_tickets=off and form.return_tickets.data))
            if refusal is None:
                flash(_switched_message(returned), "success")
                # htmx (the dialog): the page behind comes back with the top bar as it now stands.
                return ("", 204, {"HX-Refresh": "true"}) if is_htmx() else redirect(url_for("me.settings"), code=303)
            field = ASSIGNMENT_ERROR_FIELDS.get(refusal.code, "state")
            getattr(form, field).errors = [refusal.message]
    return _settings(assignment_form=form, status=422)


@bp.post("/assignment")
@member_required
def assignment_toggle():
    """One click in the top bar: assignment on, or off with no end (the options are in the settings)."""
    wanted = request.form.get("on", "")
    if wanted not in ("0", "1"):
        abort(400)
    member = current_user._get_current_object()
    return act(lambda: assignment.switch(current_actor(), member, wanted == "1"), _switched_message,
               safe_referrer() or url_for("home.index"), refused_status=422,
               partial=lambda error: render_template("me/_assignment_switch.html", assignment_error=error))


def _performance_day(service):
    """The day asked for (today by default); a bad or future day is an error message, today is shown."""
    today = local_today(service)
    raw = request.args.get("day", "")
    if not raw:
        return today, None
    try:
        day = parse_day(raw)
    except ValueError:
        return today, _("Enter days as YYYY-MM-DD.")
    if day > today:
        return today, _("Pick today or a past day.")
    return day, None


@bp.get("/performance")
@member_required
def performance():
    """My performance: my day in the service I work in, live while it is today (the dialog polls its body)."""
    service = current_service()
    if service is None:
        return render("me/performance.html", partial="me/_performance.html", figures=None, error=None)
    day, error = _performance_day(service)
    context = {"figures": perf.figures(current_user, service, day), "error": error, "updated": utcnow(),
               "today": local_today(service),
               "phone_shown": perf.PHONE_SHOWN, "chat_shown": perf.CHAT_SHOWN}
    if request.args.get("part") == "body":
        return render_template("me/_performance_body.html", **context)
    return render("me/performance.html", partial="me/_performance.html", **context), 400 if error else 200


@bp.get("/performance.xlsx")
@member_required
def performance_export():
    service = current_service()
    if service is None:
        abort(404)
    day, error = _performance_day(service)
    if error:
        flash(error, "error")
        return redirect(url_for("me.performance"), code=303)
    spool = perf.export(current_user, perf.figures(current_user, service, day))
    return xlsx_attachment(spool, f"my-performance-{service.service_key}-{day:%Y%m%d}.xlsx")


# Which field of the log form shows a range refusal (cti_log.check_range).
LOG_ERROR_FIELDS = {"reversed_range": "from", "range_too_long": "to"}


def _log_page(services, values, errors=None, status=200):
    """The download page; a refusal is shown at its field (`errors`: field → message, "_form" for the form as a
    whole). htmx gets the form back in place, as typed, with the messages."""
    errors = errors or {}
    if errors and is_htmx():
        return (render_template("me/_cti_log_form.html", services=services, values=values, errors=errors), status,
                {"HX-Retarget": "#log-form", "HX-Reswap": "outerHTML"})
    return render("me/cti_logs.html", services=services, values=values, errors=errors,
                  exports=cti_log.recent_exports(current_user)), status


@bp.get("/cti-logs")
@member_required
def cti_logs():
    """CTI Log download (account menu): a service and a day range; the .xlsx is built by a job whose progress
    the page follows, then downloaded."""
    services = cti_log_services()
    if not services:
        return render("me/cti_logs.html", services=[], errors={}, values={}, exports=[])
    today = local_today(services[0]).isoformat()
    return _log_page(services, {"service": services[0].service_key, "from": today, "to": today})


@bp.post("/cti-logs")
@member_required
def cti_log_start():
    services = cti_log_services()
    values = {key: request.form.get(key, "") for key in ("service", "from", "to")}
    chosen = next((s for s in services if s.service_key == values["service"]), None)
    if chosen is None:
        abort(404)  # not a CTI service whose log this member may read
    if not ConfirmForm().validate_on_submit():
        return _log_page(services, values, {"_form": form_expired()}, 400)
    days = {}
    for key in ("from", "to"):
        try:
            days[key] = parse_day(values[key] or values["from"])
        except ValueError:
            return _log_page(services, values, {key: _("Enter days as YYYY-MM-DD.")}, 400)
    try:
        run = cti_log.start_export(current_user, chosen, days["from"], days["to"])
    except ServiceError as exc:
        return _log_page(services, values, {LOG_ERROR_FIELDS.get(exc.code, "_form"): exc.message}, 400)
    if is_htmx():
        return render_template("me/_cti_log_export.html", run=run, fresh=True)
    return redirect(url_for("me.cti_logs", _anchor=f"export-{run.id}"), code=303)


def _export(run_id: int):
    run = cti_log.export_run(current_user, run_id)
    if run is None:
        abort(404)
    return run


@bp.get("/cti-logs/exports/<int:run_id>")
@member_required
def cti_log_export(run_id: int):
    """One export's status (polled while it runs; the download starts by itself when it is done)."""
    return render_template("me/_cti_log_export.html", run=_export(run_id), fresh=request.args.get("fresh") == "1")


@bp.get("/cti-logs/exports/<int:run_id>/file")
@member_required
def cti_log_file(run_id: int):
    run = _export(run_id)
    stored = storage.load(current_user.organization_id, (run.result or {}).get("file_id") or 0)
    if stored is None:
        abort(404)  # not done, failed, or cleaned up after a day
    return xlsx_attachment(stored.data, stored.filename)


@bp.post("/current-service")
@member_required
def switch_service():
    """Agents work in one service at a time; the choice lives in the session."""
    key = request.form.get("service_key", "")
    service = get_or_404(Service, service_key=key)
    if service not in my_services():
        flash(_("You are not a member of %(name)s, or it is not active.", name=service.name), "error")
        return redirect(url_for("home.index"), code=303)
    session[SESSION_SERVICE_KEY] = service.service_key
    return redirect(url_for("workspace.index", service_key=service.service_key), code=303)
