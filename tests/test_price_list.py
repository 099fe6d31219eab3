"""The price list file and the estimate every page and the API share."""
import pytest

from portal.services import ServiceError
from portal.services.price_list import CTI_FEATURE, PriceListError, estimate, features, parse_price_list


def test_the_price_list_loads_and_contains_phone_cti():
    keys = [f.key for f in features()]
    assert CTI_FEATURE in keys and "base.seat" in keys and "sms" in keys
    assert all(f.name_ko and f.name_en for f in features())


def test_estimate_is_the_sum_of_used_features_times_quantities(app):
    with app.test_request_context():
        quote = estimate({"base.seat": 10, "ticket.management": 10, "ticket.phone_cti": 4, "helpcenter": 1, "sms": 3})
    # 10×20,000 + 10×15,000 + 4×25,000 + 50,000 + 3×9,000
    assert quote.total == 200_000 + 150_000 + 100_000 + 50_000 + 27_000
    assert [line.feature.key for line in quote.lines] == ["base.seat", "ticket.management", "ticket.phone_cti",
                                                          "helpcenter", "sms"]
    assert quote.uses(CTI_FEATURE) and not quote.uses("chatbot")


@pytest.mark.parametrize("quantities, code", [
    ({"base.seat": -1}, "bad_quantity"),
    ({"base.seat": 10_001}, "bad_quantity"),
    ({"base.seat": 2, "chatbot": 2}, "bad_quantity"),
    ({"base.seat": 2, "teleportation": 1}, "unknown_feature"),
    ({"ticket.management": 3}, "required_feature"),
    ({"base.seat": 2.5}, "bad_quantity"),
])
def test_estimate_refuses_bad_quantities(app, quantities, code):
    with app.test_request_context(), pytest.raises(ServiceError) as refused:
        estimate(quantities)
    assert refused.value.code == code


@pytest.mark.parametrize("text, problem", [
    ('currency = "USD"\n', "currency"),
    ('currency = "KRW"\n[[feature]]\nkey = "x"\nname_ko = "x"\nname_en = "x"\nunit = "per_hour"\nunit_price = 1\n', "unit"),
    ('currency = "KRW"\n[[feature]]\nkey = "x"\nname_ko = "x"\nname_en = "x"\nunit = "flat_month"\nunit_price = -5\n', "unit_price"),
    ('currency = "KRW"\n[[feature]]\nkey = "x"\nname_ko = "x"\nname_en = "x"\nunit = "flat_month"\nunit_price = 5\n', "ticket.phone_cti"),
    ('currency = "KRW"\n[[feature]]\nkey = "x"\nname_ko = "x"\nunit = "flat_month"\nunit_price = 5\n', "lacks"),
])
def test_a_malformed_price_list_is_refused_at_start_up(text, problem):
    with pytest.raises(PriceListError, match=problem):
        parse_price_list(text)
