from flask_babel import lazy_gettext as _l
from portal.forms import Form
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(Form):
    organization = StringField(_l("Organization domain"), validators=[DataRequired(), Length(max=63)])
    login_id = StringField(_l("Login ID"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    next = HiddenField()


class SetPasswordForm(Form):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )


class LanguageForm(Form):
    code = StringField(validators=[DataRequired(), Length(max=8)])
    next = HiddenField()
    announce = HiddenField()  # "1": say that the language changed (personal settings); the top bar's switch shows it
