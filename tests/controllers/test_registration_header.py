"""The Idempotency-Key header's parsing, its documented pattern, and the fingerprint."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.errors import InvalidIdempotencyKey
from controllers.registration import KEY_PATTERN, MALFORMED, TOO_LONG, fingerprint, idempotency_key
from controllers.registration_form import parse_registration

PROGRAMS = ("computer-science", "arts")


def key_of(*values: bytes) -> str | None:
    others = [(b"content-type", b"application/json"), (b"idempotency-keys", b"other")]
    return idempotency_key([*others, *((b"idempotency-key", value) for value in values)])


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (b'"8e03978e-40d5-43e8-bc93-6894a57f9324"', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        (b"8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        (b'"with space"', "with space"),
        (b'"a\\"b\\\\c"', 'a"b\\c'),
        (b' "padded" ', "padded"),
        (b"Case-Matters", "Case-Matters"),
        (b"k" * 255, "k" * 255),
    ],
)
def test_accepted_keys(value: bytes, key: str) -> None:
    assert key_of(value) == key


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((b"",), MALFORMED),
        ((b'""',), MALFORMED),
        ((b"two words",), MALFORMED),
        ((b'"open',), MALFORMED),
        ((b'"bad \\escape"',), MALFORMED),
        ((b"a,b",), MALFORMED),
        ((b"caf\xc3\xa9",), MALFORMED),
        ((b'"tab\tinside"',), MALFORMED),
        ((b'"a"', b'"b"'), MALFORMED),
        ((b"k" * 256,), TOO_LONG),
        ((b'"' + b"k" * 256 + b'"',), TOO_LONG),
    ],
)
def test_refused_keys(values: tuple[bytes, ...], message: str) -> None:
    with pytest.raises(InvalidIdempotencyKey) as refused:
        key_of(*values)
    assert refused.value.message == message
    assert refused.value.status_code == 400


def test_no_header_no_key() -> None:
    assert idempotency_key([(b"content-type", b"application/json")]) is None


@given(st.text(st.characters(min_codepoint=0x09, max_codepoint=0xFF), max_size=300))
def test_the_documented_pattern_accepts_exactly_what_the_service_does(value: str) -> None:
    documented = re.fullmatch(KEY_PATTERN, value) is not None
    try:
        key_of(value.encode("latin-1"))
    except InvalidIdempotencyKey:
        accepted = False
    else:
        accepted = True
    assert accepted == documented


def test_the_fingerprint_is_of_the_normalised_submission() -> None:
    def form(**fields: str) -> str:
        body = {"name": "Ada", "email": "ada@example.com", "phone": "5551234567"}
        return fingerprint(parse_registration({"program": "arts", **body, **fields}, PROGRAMS))

    assert form() == form(phone="(555) 123-4567") == form(name="  Ada ")
    assert form() == form(email="ada@EXAMPLE.com")  # the domain is stored in lower case
    assert form() != form(name="Adá")
    assert form() != form(email="Ada@example.com")
    assert form() != form(program="computer-science")


@given(st.from_regex(KEY_PATTERN, fullmatch=True))
def test_every_value_of_the_documented_pattern_is_a_key(value: str) -> None:
    key = key_of(value.encode("latin-1"))
    assert key is not None
    assert 1 <= len(key) <= 255
