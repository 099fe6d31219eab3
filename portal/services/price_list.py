"""The price list (portal/data/price_list.toml) and the one function that prices a contract."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask_babel import get_locale
from flask_babel import gettext as _

from portal.services import ServiceError

PRICE_LIST_PATH = Path(__file__).resolve().parent.parent / "data" / "price_list.toml"
UNITS = ("per_agent_month", "per_1000", "flat_month")
CTI_FEATURE = "ticket.phone_cti"
# Upper bounds that catch typos (an extra zero or three) without limiting any real contact center.
MAX_QUANTITY = {"per_agent_month": 10_000, "per_1000": 100_000, "flat_month": 1}


@dataclass(frozen=True)
class Feature:
    key: str
    name_ko: str
    name_en: str
    unit: str
    unit_price: int
    required: bool = False

    @property
    def name(self) -> str:
        return self.name_ko if str(get_locale()) == "ko" else self.name_en

    @property
    def flat(self) -> bool:
        return self.unit == "flat_month"

    @property
    def start_quantity(self) -> int:
        """The quantity a feature starts at when it is switched on: 1, the smallest one a used feature can have
        (the price list sets no minimum)."""
        return 1


@dataclass(frozen=True)
class EstimateLine:
    feature: Feature
    quantity: int
    unit_price: int

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Estimate:
    lines: tuple[EstimateLine, ...]

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    def quantity(self, key: str) -> int:
        return next((line.quantity for line in self.lines if line.feature.key == key), 0)

    def uses(self, key: str) -> bool:
        return self.quantity(key) > 0


class PriceListError(ValueError):
    """The price list file is malformed; the app refuses to start rather than bill wrongly."""


def parse_price_list(text: str) -> tuple[Feature, ...]:
    data = tomllib.loads(text)
    if data.get("currency") != "KRW":
        raise PriceListError("currency must be KRW")
    features, seen = [], set()
    for i, raw in enumerate(data.get("feature", [])):
        missing = {"key", "name_ko", "name_en", "unit", "unit_price"} - raw.keys()
        if missing:
            raise PriceListError(f"feature #{i + 1} lacks {sorted(missing)}")
        if raw["unit"] not in UNITS:
            raise PriceListError(f"{raw['key']}: unit must be one of {UNITS}")
        if not isinstance(raw["unit_price"], int) or raw["unit_price"] < 0:
            raise PriceListError(f"{raw['key']}: unit_price must be a whole number of won, not negative")
        if raw["key"] in seen:
            raise PriceListError(f"{raw['key']}: listed twice")
        seen.add(raw["key"])
        features.append(Feature(raw["key"], raw["name_ko"], raw["name_en"], raw["unit"], raw["unit_price"],
                                bool(raw.get("required", False))))
    if CTI_FEATURE not in seen:
        raise PriceListError(f"the price list must contain {CTI_FEATURE} (it enables the CTI menus)")
    return tuple(features)


@lru_cache(maxsize=1)
def features() -> tuple[Feature, ...]:
    return parse_price_list(PRICE_LIST_PATH.read_text(encoding="utf-8"))


def feature(key: str) -> Feature:
    for f in features():
        if f.key == key:
            return f
    raise KeyError(key)


def estimate(quantities: dict[str, int]) -> Estimate:
    """Price a contract: every used feature × its quantity at today's unit price.

    `quantities` maps feature keys to quantities (0 or absent = not used; flat features take 1).
    Unknown keys, negative or absurd quantities and a missing required feature are refused."""
    known = {f.key: f for f in features()}
    unknown = set(quantities) - set(known)
    if unknown:
        raise ServiceError(_("Unknown feature: %(keys)s.", keys=", ".join(sorted(unknown))), "unknown_feature")
    lines = []
    for f in features():
        qty = quantities.get(f.key, 0)
        if not isinstance(qty, int) or isinstance(qty, bool):
            raise ServiceError(_("%(feature)s: enter a whole number.", feature=f.name), "bad_quantity")
        if qty < 0 or qty > MAX_QUANTITY[f.unit]:
            raise ServiceError(
                _("%(feature)s: the quantity must be between 0 and %(max)s.", feature=f.name,
                  max=f"{MAX_QUANTITY[f.unit]:,}"),
                "bad_quantity",
            )
        if f.required and qty == 0:
            raise ServiceError(_("%(feature)s is required.", feature=f.name), "required_feature")
        if qty:
            lines.append(EstimateLine(f, qty, f.unit_price))
    return Estimate(tuple(lines))
