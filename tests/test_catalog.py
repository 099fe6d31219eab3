"""The help-center language list (portal/data/helpcenter-languages.csv) as the forms show it."""
import re

from portal.services.catalog import languages


def test_every_help_center_language_name_is_plain_text():
    names = {lang.code: lang.english_name for lang in languages()}
    assert not {code: name for code, name in names.items() if re.search(r"[&<>]|nbsp|\s{2}", name)}
    assert names["cu"] == "Church Slavic, Old Slavonic, Church Slavonic, Old Bulgarian, Old Church Slavonic"
