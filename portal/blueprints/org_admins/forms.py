from flask_babel import lazy_gettext as _l
from portal.forms import Form
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length


class InviteForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    login_id = StringField(_l("Login ID"), validators=[DataRequired(), Length(max=64)])
    email = StringField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])


class RevokeForm(Form):
    confirm_self = BooleanField(_l("Yes, remove my own org admin role"))
