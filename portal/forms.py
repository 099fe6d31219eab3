"""The base of every form: Flask-WTF's CSRF, with WTForms' own messages translated from a cached catalog.

Flask-WTF's i18n loads the WTForms catalog from disk on every request; this keeps one per language."""
from functools import lru_cache

from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms.i18n import get_translations


@lru_cache(maxsize=8)
def _translations(locale: str):
    return get_translations([locale])


class Form(FlaskForm):
    class Meta:
        def get_translations(self, form):
            return _translations(str(get_locale()))
