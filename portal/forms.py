"""The base of every form: Flask-WTF's CSRF, with WTForms' own messages translated from a cached catalog.

Flask-WTF's i18n loads the WTForms catalog from disk on every request; this keeps one per language."""
from functools import lru_cache

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.i18n import get_translations

from portal.services import MAX_ID, whole_number


@lru_cache(maxsize=8)
def _translations(locale: str):
    return get_translations([locale])


class Form(FlaskForm):
    class Meta:
        def get_translations(self, form):
            return _translations(str(get_locale()))


class ConfirmForm(Form):
    """A bare CSRF-protected form for buttons that change something (every blueprint's confirm buttons)."""


class WholeNumberField(IntegerField):
    """An integer field by the portal's one rule (`portal.services.whole_number`): ASCII digits within
    low..high, ids by default; anything else is a field error, never a number the database cannot hold."""

    def __init__(self, label=None, validators=None, *, low: int = 1, high: int = MAX_ID, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.low, self.high = low, high

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        self.data = whole_number(valuelist[0], self.low, self.high)
        if self.data is None:
            raise ValueError(_("Enter a whole number from %(low)s to %(high)s.", low=self.low, high=self.high))
