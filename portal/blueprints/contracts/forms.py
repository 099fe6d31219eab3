from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, RadioField, SelectChoice, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import HiddenInput

from portal.forms import Form, WholeNumberField
from portal.services.catalog import languages


def _type_choices():
    return [SelectChoice("counseling", _l("Counseling management")), SelectChoice("issue", _l("Issue management"))]


class ServiceBasicForm(Form):
    """Wizard step 1 and the basic-info edit. Business rules (ID format and uniqueness, languages,
    time zone, banner content) are checked by the service functions, which report per field."""

    type = RadioField(_l("Type"), choices=_type_choices(), default="counseling", validators=[DataRequired()])
    name = StringField(_l("Service name"), validators=[DataRequired(), Length(max=100)])
    service_key = StringField(_l("Service ID"), validators=[Optional()])  # rules: services.service_setup
    languages = SelectMultipleField(_l("Help-center languages"), validate_choice=False)
    default_language = StringField(_l("Default language"), validators=[Optional(), Length(max=16)])
    time_zone = StringField(_l("Time zone"), default="Asia/Seoul", validators=[DataRequired(), Length(max=64)])
    banner = FileField(_l("Service banner"))
    remove_banner = BooleanField(_l("Remove the current banner"))
    pending_banner = WholeNumberField(widget=HiddenInput())  # a banner kept from a refused submit
    discard_banner = BooleanField(_l("Do not use it"))
    editor_type = RadioField(_l("Editor type"), choices=[SelectChoice("HTML"), SelectChoice("TEXT")], default="HTML",
                             validators=[DataRequired()])
    revision = WholeNumberField(widget=HiddenInput())

    def language_options(self):
        return languages()


# Which form field shows a service rule's refusal.
ERROR_FIELDS = {
    "bad_service_key": "service_key", "service_key_taken": "service_key", "bad_name": "name",
    "no_language": "languages", "bad_language": "languages", "bad_default_language": "default_language",
    "bad_time_zone": "time_zone", "banner_too_large": "banner", "banner_format": "banner", "banner_empty": "banner",
}


class ContractForm(Form):
    """The quantities are per price-list feature (`use.<key>`, `qty.<key>`), read by `parse_quantities`."""

    base_version = WholeNumberField(widget=HiddenInput())


class TerminateForm(Form):
    confirm_key = StringField(_l("Service ID"), validators=[DataRequired(), Length(max=40)])


class StatusForm(Form):
    to = HiddenField(validators=[DataRequired()])


class OrganizationForm(Form):
    name = StringField(_l("Organization name"), validators=[DataRequired(), Length(max=100)])
    domain = StringField(_l("Domain"), validators=[DataRequired(), Length(max=63)])
    idle_timeout = StringField(_l("Agent idle timeout (minutes)"), render_kw={"inputmode": "numeric", "maxlength": 3})


class RotateKeyForm(Form):
    confirm = BooleanField(_l("I understand that integrations using the current key must switch to the new one"),
                           validators=[DataRequired()])
