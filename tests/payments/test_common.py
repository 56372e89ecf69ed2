"""Money on the wire, address comparison and event checks shared by the adapters."""

from __future__ import annotations


import pytest

from checkout.payments import PaymentEvent, PaymentVerificationError, check_event_matches
from checkout.payments.bank import BankTransferConfig, clean_transfer_reference, transfer_instructions
from checkout.payments.common import PaymentError, address_differences, from_decimal_string, to_decimal_string

ADDRESS = {"name": "张三", "line1": "Room 501, Bldg 2", "line2": "", "city": "Shanghai", "province": "SH",
           "postal_code": "200120", "country_code": "CN"}


@pytest.mark.parametrize("minor, currency, text", [(19900, "CNY", "199.00"), (1, "USD", "0.01"), (0, "CNY", "0.00"),
                                                   (1050, "JPY", "1050"), (123456789012345, "CNY", "1234567890123.45")])
def test_minor_units_round_trip(minor, currency, text):
    assert to_decimal_string(minor, currency) == text
    assert from_decimal_string(text, currency) == minor


@pytest.mark.parametrize("bad", ["1e2", "-1.00", " 1.00", "1.001", "1,00", "", "01.00", "NaN", 1.0, None])
def test_wire_amounts_that_are_not_plain_decimals_are_refused(bad):
    with pytest.raises(ValueError):
        from_decimal_string(bad, "CNY")


@pytest.mark.parametrize("bad", [1.5, -1, True, "100"])
def test_only_integer_minor_units_go_out(bad):
    with pytest.raises(ValueError):
        to_decimal_string(bad, "CNY")


def test_addresses_equal_after_normalisation():
    typed = {**ADDRESS, "line1": "ROOM　５０１ bldg 2", "city": " shanghai ", "postal_code": "200 120",
             "country_code": "cn"}
    assert address_differences(ADDRESS, typed) == ()
    split = {**ADDRESS, "line1": "Room 501", "line2": "Bldg 2"}
    assert address_differences(ADDRESS, split) == ()


def test_address_differences_are_named():
    assert address_differences(ADDRESS, {**ADDRESS, "line1": "Room 502, Bldg 2"}) == ("street",)
    assert address_differences(ADDRESS, {**ADDRESS, "country_code": "US", "postal_code": "10001"}) == \
        ("postal_code", "country_code")
    assert address_differences(ADDRESS, None) == ("missing",)


def _event(**kw):
    base = dict(provider="alipay", event_id="T1:TRADE_SUCCESS", kind="paid", order_number="UM1", amount_minor=19900,
                currency="CNY", merchant_id="2088", provider_reference="T1")
    return PaymentEvent(**{**base, **kw})


def test_event_must_match_the_stored_order():
    check_event_matches(_event(), "UM1", 19900, "CNY")
    for kw, reason in ((dict(amount_minor=100), "amount_mismatch"), (dict(currency="USD"), "currency_mismatch"),
                       (dict(order_number="UM2"), "order_mismatch")):
        with pytest.raises(PaymentVerificationError) as err:
            check_event_matches(_event(**kw), "UM1", 19900, "CNY")
        assert err.value.reason == reason


def test_bank_transfer_instructions_and_reference():
    config = BankTransferConfig("umegou", "Bank of China", "6222 0000", "BKCHCNBJ")
    info = transfer_instructions(config, "UM20240101000001", 19900, "CNY")
    assert (info.amount, info.reference, info.reservation_hours) == ("199.00", "UM20240101000001", 72)
    assert clean_transfer_reference(" ２０２４０１０１ABC ") == "20240101ABC"
    with pytest.raises(PaymentError) as err:
        clean_transfer_reference("<script>")
    assert "Fix:" in str(err.value)
