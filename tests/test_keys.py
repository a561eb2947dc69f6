import pytest
from django.core.exceptions import ValidationError

from connectors.keys import RESTRICTED, SECRET, mask, parse_key

RK = "rk_live_51Hx" + "a" * 20 + "Wxyz"


def test_it_parses_a_restricted_key():
    parsed = parse_key(RK)
    assert (parsed.kind, parsed.mode, parsed.warning) == (RESTRICTED, "live", "")


def test_it_strips_pasted_whitespace():
    assert parse_key(f"  {RK}\n").mode == "live"


def test_it_accepts_a_secret_key_with_a_warning_naming_permissions():
    parsed = parse_key("sk_test_" + "b" * 24)
    assert parsed.kind == SECRET and parsed.mode == "test"
    assert "restricted" in parsed.warning
    assert "Charges: Read" in parsed.warning and "Payouts: Read" in parsed.warning


@pytest.mark.parametrize(
    "raw, code",
    [
        ("pk_live_" + "c" * 24, "publishable"),
        ("pk_test_" + "c" * 24, "publishable"),
        ("", "required"),
        ("rk_live_short", "malformed"),
        ("rk_prod_" + "d" * 24, "malformed"),
        ("rk_live_" + "d" * 12 + " " + "d" * 12, "malformed"),
        ("whsec_" + "e" * 24, "malformed"),
        ("sk_live_" + "f" * 20 + "!", "malformed"),
    ],
)
def test_it_refuses_bad_keys_with_a_clear_message(raw, code):
    with pytest.raises(ValidationError) as e:
        parse_key(raw)
    assert e.value.code == code
    message = " ".join(e.value.messages)
    assert "key" in message.lower()
    if len(raw) > 8:
        assert raw.strip() not in message


def test_the_publishable_message_says_what_to_do():
    with pytest.raises(ValidationError) as e:
        parse_key("pk_live_" + "c" * 24)
    assert "publishable" in e.value.messages[0] and "rk_" in e.value.messages[0]


def test_it_masks_a_key_to_its_kind_mode_and_last_four():
    assert mask(RK) == "rk_live_…Wxyz"
    assert mask("sk_test_" + "z" * 20 + "1234") == "sk_test_…1234"
    assert mask("") == ""
    assert "a" * 20 not in mask("garbage" + "a" * 20)
