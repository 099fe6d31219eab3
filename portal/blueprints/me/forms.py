from flask_babel import lazy_gettext as _l
from portal.forms import Form
from portal.services.assignment import NOTE_MAX
from wtforms import BooleanField, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length


class ProfileForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    phone = StringField(_l("Phone"), validators=[Length(max=32)])


class PasswordForm(Form):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("new", message=_l("The two passwords differ."))])


class AssignmentForm(Form):
    """The member's own assignment switch (SPEC 8, 할당). The time and the note are checked by
    `assignment.switch`, whose refusals are shown at these fields."""
    state = RadioField(_l("Assignment"), choices=[("on", _l("On: I get tickets and chats")),
                                                 ("off", _l("Off: no automatic tickets or chats"))],
                       validators=[InputRequired(message=_l("Choose on or off."))])
    until = StringField(_l("Off until (optional)"), render_kw={"type": "datetime-local"})
    note = StringField(_l("Note (optional)"), render_kw={"maxlength": NOTE_MAX, "placeholder": _l("e.g. vacation")})
    return_tickets = BooleanField(_l("Return my open tickets to the queue"))
