"""Help-center languages (portal/data/helpcenter-languages.csv) and IANA time zones, for forms and checks."""
from __future__ import annotations

import csv
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError

LANGUAGES_CSV = Path(__file__).resolve().parent.parent / "data" / "helpcenter-languages.csv"


@dataclass(frozen=True)
class Language:
    code: str
    english_name: str
    native_name: str  # from Babel's CLDR data where Babel knows the code, else the English name


def _native_name(code: str, english: str) -> str:
    try:
        locale = Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return english
    name = locale.get_display_name(locale)
    return name[:1].upper() + name[1:] if name else english


@lru_cache(maxsize=1)
def languages() -> tuple[Language, ...]:
    with LANGUAGES_CSV.open(encoding="utf-8") as fh:
        return tuple(Language(row["code"], row["english_name"], _native_name(row["code"], row["english_name"]))
                     for row in csv.DictReader(fh))


@lru_cache(maxsize=1)
def language_codes() -> frozenset[str]:
    return frozenset(lang.code for lang in languages())


def language_name(code: str) -> str:
    return next((lang.native_name for lang in languages() if lang.code == code), code)


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """Canonical IANA names (Area/City), sorted; legacy aliases such as `US/Pacific` are left out."""
    legacy = ("Etc/", "SystemV/", "US/")
    names = {tz for tz in zoneinfo.available_timezones() if "/" in tz and not tz.startswith(legacy)}
    return tuple(sorted(names | {"UTC"}))


def is_time_zone(name: str) -> bool:
    return name in time_zones()
