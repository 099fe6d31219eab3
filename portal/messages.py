"""Stored messages: what a job or a check writes down for people to read later is a code and its parameters (the
team's rule: never store translated text), and this module says it in the reader's language when it is shown (a
mail in its recipient's). A migration batch's outcome and row errors, and a job run's progress and result.

Parameters are plain JSON (numbers unformatted: they are formatted here, in the reader's locale). A row read back
that names an unknown code, or lacks a parameter, still renders (the code, "?"): stored rows outlive code changes.
Rows stored before codes existed keep their text, shown as it is (`legacy`).
"""
from __future__ import annotations

from typing import Any, Callable

from flask_babel import format_number, get_locale, get_translations
from flask_babel import gettext as _
from flask_babel import ngettext

from portal.labels import batch_status_label
from portal.models import BatchStatus


def _num(value: Any) -> str:
    """A count as the reader's locale writes it (1,234); anything else a stored row holds, as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    return "?" if value is None else str(value)


def _int(params: dict, key: str) -> int:
    value = params.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(params: dict, key: str) -> str:
    value = params.get(key)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "?" if value is None else str(value)


# -- row errors of a migration file -------------------------------------------------------------------------------

_ROW_ERRORS: dict[str, Callable[[dict, Callable[..., str]], str]] = {
    "required": lambda p, _: _("Required."),
    "number": lambda p, _: _("Enter a number."),
    "date": lambda p, _: _("Enter a real date as YYYY-MM-DD."),
    "datetime": lambda p, _: _("Enter a real date and time as YYYY-MM-DD HH:MM."),
    "date_range": lambda p, _: _("Enter a day from %(first)s to %(last)s.", first=_str(p, "first"), last=_str(p, "last")),
    "not_member": lambda p, _: _("%(login)s is not a member of this service.", login=_str(p, "login")),
    "member_disabled": lambda p, _: _("%(login)s is disabled: enable the member first.", login=_str(p, "login")),
    "too_long": lambda p, _: _("At most %(n)s characters.", n=_num(p.get("n"))),
    "not_choice": lambda p, _: _("%(value)s is not one of the choices.", value=_str(p, "value")),
    "yes_no": lambda p, _: _("Enter Y or N."),
    "email": lambda p, _: _("Enter a valid e-mail address."),
    "phone": lambda p, _: _("Enter a phone number (digits, spaces, + and -)."),
    "duplicate_external": lambda p, _: _("Same external ID as row %(row)d.", row=_int(p, "row")),
}


class RowErrors:
    """Says stored row errors in the current language: {row, column: [Korean label, English label], code, args},
    or a legacy one {row, column, message} as it was stored. Made once for many (an error report's 200,000 rows):
    the language and its translations are looked up once, not at each message as flask_babel's gettext does (it
    was most of a download's time), and an error said before is said again from memory."""

    MEMORY = 10_000  # errors remembered (most rows of a file repeat a few errors); then it starts again

    def __init__(self):
        translations = get_translations()
        self.korean = str(get_locale()) == "ko"
        self.gettext = lambda msgid, **params: (translations.ugettext(msgid) % params if params
                                                else translations.ugettext(msgid))
        self._said: dict[tuple, str] = {}

    def column(self, column: Any) -> str:
        """The field's labels (data, not a translation) picked for the reader; a legacy error's label as it is."""
        if isinstance(column, (list, tuple)) and len(column) == 2:
            return str(column[0] if self.korean else column[1])
        return "" if column is None else str(column)

    def message(self, code: str | None, params: dict | None = None) -> str:
        """One problem of one cell."""
        params = params if isinstance(params, dict) else {}
        key = (code, repr(sorted(params.items())))
        said = self._said.get(key)
        if said is None:
            render = _ROW_ERRORS.get(code or "")
            said = render(params, self.gettext) if render else self.gettext("Not accepted (%(code)s).",
                                                                            code=code or "?")
            if len(self._said) >= self.MEMORY:
                self._said.clear()
            self._said[key] = said
        return said

    def error(self, error: dict) -> tuple[str, str]:
        """A stored row error as (column, message)."""
        if not isinstance(error, dict):
            return "", str(error)
        if "code" in error:
            return self.column(error.get("column")), self.message(error.get("code"), error.get("args"))
        return self.column(error.get("column")), str(error.get("message") or "")

    def errors(self, errors: list) -> str:
        """All problems of one row, as the error report's Errors cell writes them: "Column: message; …"."""
        return "; ".join(f"{column}: {message}" for column, message in map(self.error, errors))


def row_error(error: dict) -> tuple[str, str]:
    """A stored row error as (column, message) in the reader's language (see RowErrors)."""
    return RowErrors().error(error)


# -- outcomes of a migration batch and refusals of its file --------------------------------------------------------

def _problems(params: dict) -> str:
    problems = params.get("problems")
    if not isinstance(problems, list):
        return ""
    return " ".join(text(p[0], p[1] if len(p) > 1 else {}) for p in problems if isinstance(p, list) and p)


def _row_invalid(params: dict) -> str:
    column, message = row_error(params.get("error") if isinstance(params.get("error"), dict) else {})
    return _("Row %(row)d no longer passes the check: %(error)s Upload the file again.", row=_int(params, "row"),
             error=f"{column}: {message}" if column else message)


_BATCH: dict[str, Callable[[dict], str]] = {
    "no_rows": lambda p: _("The file has no ticket rows."),
    "row_errors": lambda p: _("%(bad)s of %(rows)s rows have errors. Download the error report, correct them and "
                              "upload the file again.", bad=_num(p.get("bad")), rows=_num(p.get("rows"))),
    "ready": lambda p: _("%(rows)s rows are ready. Confirm to reserve them.", rows=_num(p.get("rows"))),
    "check_broken": lambda p: _("The file could not be checked: something in it stopped the check. Save it again "
                                "from Excel, or split it, and upload it again (batch %(id)d).", id=_int(p, "id")),
    "check_stopped": lambda p: _("The check stopped %(n)d times without finishing; the file may be too large or too "
                                 "complex. Split it and upload the parts.", n=_int(p, "n")),
    "applied": lambda p: _("%(n)s tickets were created.", n=_num(p.get("n"))),
    "fields_changed": lambda p: _("The ticket fields of %(name)s changed after the check. Upload the file again.",
                                  name=_str(p, "name")),
    "assignee_gone": lambda p: _("The file assigns tickets to %(logins)s, no longer a member of %(name)s. Add them "
                                 "to the service again, or correct the file and upload it again.",
                                 logins=_str(p, "logins"), name=_str(p, "name")),
    "row_invalid": _row_invalid,
    "apply_error": lambda p: _("The apply stopped on an unexpected error: %(error)s", error=_str(p, "error")),
    # the file
    "not_xlsx": lambda p: _("This is not an .xlsx file. Save it as Excel Workbook (.xlsx) and upload it again."),
    "empty_file": lambda p: _("The file is empty."),
    "too_big_unpacked": lambda p: _("The file unpacks to more than %(mb)d MB. Split it into smaller files.",
                                    mb=_int(p, "mb")),
    "corrupt": lambda p: _("The file is damaged (not a readable .xlsx)."),
    "not_template": lambda p: _("This file is not a migration template of this portal. Download the template and "
                                "fill it in."),
    "empty_sheet": lambda p: _("The sheet %(sheet)s is empty.", sheet=_str(p, "sheet")),
    "too_many_columns": lambda p: _("The sheet has %(n)s columns; a template has at most %(max)d.",
                                    n=_num(p.get("n")), max=_int(p, "max")),
    "too_many_rows": lambda p: _("The sheet has %(n)s rows; one file takes at most %(max)s. Split it.",
                                 n=_num(p.get("n")), max=_num(p.get("max"))),
    "outdated_template": lambda p: _("The file does not match the current template of %(name)s: %(problems)s "
                                     "Download the template again.", name=_str(p, "name"), problems=_problems(p)),
    # why a file does not match its service's current template (the problems of outdated_template)
    "other_service": lambda p: _("The file is the template of another service (%(other)s), not of %(this)s.",
                                 other=_str(p, "other"), this=_str(p, "this")),
    "columns_added": lambda p: _("Columns added since the template was made: %(keys)s.", keys=_str(p, "keys")),
    "columns_removed": lambda p: _("Columns removed since the template was made: %(keys)s.", keys=_str(p, "keys")),
    "column_order": lambda p: _("The column order changed since the template was made."),
    "field_settings": lambda p: _("Field settings (required flags, types or choices) changed since the template "
                                  "was made."),
    "header_changed": lambda p: _("The header row was changed: %(cols)s.",
                                  cols=_str(p, "cols") if p.get("cols") else _("columns missing")),
    "unknown_columns": lambda p: _("Unknown columns: %(cols)s.", cols=_str(p, "cols")),
}

# -- job runs ------------------------------------------------------------------------------------------------------

_JOB: dict[str, Callable[[dict], str]] = {
    "retrying": lambda p: (_("Attempt %(attempt)d of %(tries)d failed; trying again.", attempt=_int(p, "attempt"),
                             tries=_int(p, "tries")) if p.get("tries") else _("An attempt failed; trying again.")),
    "job_error": lambda p: _("An unexpected error stopped the job; it is logged under job run %(id)d.",
                             id=_int(p, "id")),
    "refused": lambda p: _("The job was refused (%(code)s).", code=_str(p, "code")),
    "events_written": lambda p: _("%(done)s of %(total)s events written", done=_num(p.get("done")),
                                  total=_num(p.get("total"))),
    "events": lambda p: _("%(n)s events", n=_num(p.get("n"))),
    "batch_status": lambda p: (batch_status_label(BatchStatus(p["status"])) if p.get("status") in
                               BatchStatus._value2member_map_ else _("Nothing to do.")),
    "months_closed": lambda p: ngettext("%(num)d month closed.", "%(num)d months closed.", _int(p, "n")),
    "counted": lambda p: _("Counted to %(n)d.", n=_int(p, "n")),
    "counting": lambda p: _("%(done)d of %(n)d", done=_int(p, "done"), n=_int(p, "n")),
}
_ALL = {**_BATCH, **_JOB}


def text(code: str | None, params: dict | None = None, legacy: str | None = None) -> str | None:
    """A stored message in the reader's language: its code and parameters, or (a row from before codes) the text
    it was stored with. None when there is neither."""
    if not code:
        return legacy
    params = params if isinstance(params, dict) else {}
    render = _ALL.get(code)
    return render(params) if render else _("The work stopped (%(code)s).", code=code)


def known(code: str) -> bool:
    """Whether `code` is a message this module can say (a refusal with parameters can be stored as it is)."""
    return code in _ALL
