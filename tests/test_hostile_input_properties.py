"""Hostile input, property-based: any JSON in the four fields gets a contract answer.

Two levels. The validator (`parse_registration`) gets many examples: it may only
return a cleaned form that keeps the contract or raise `ValidationFailed` with a
contract message. The whole app (the `client` fixture, a real database) gets
fewer: every answer is 201, 400 or 409, never a 500, and a 201 is in the table.

The messages below are copied from the contract on purpose, not imported from
the service: these tests check the service against the contract.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from config.errors import ValidationFailed
from controllers.registration_form import parse_registration
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration

pytestmark = pytest.mark.anyio

REGISTER = "/api/register"
FIELDS = ("name", "email", "phone", "program")
DEFAULT_PROGRAMS = ("computer-science", "engineering", "business", "arts", "medicine")
OTHER_PROGRAMS = ("law", "fine-arts")
MAX_BODY_BYTES = 16 * 1024

# The contract's messages, exactly.
REQUIRED = "All fields are required"
NAME_CHARACTERS = "Name must contain only letters, spaces, hyphens, or apostrophes"
NAME_TOO_LONG = "Name must be at most 100 characters"
INVALID_EMAIL = "Invalid email format"
INVALID_PHONE = "Phone number must be 10 digits"
NOT_AN_OBJECT = "Request body must be a JSON object"
EMAIL_TAKEN = "Email already exists"


def program_message(programs: Sequence[str]) -> str:
    """The contract's program message: the list as configured."""
    return f"Invalid program. Must be one of: {', '.join(programs)}"


def field_messages(programs: Sequence[str]) -> frozenset[str]:
    """Every message a 400 for the fields may carry as `error`."""
    return frozenset(
        {
            REQUIRED,
            NAME_CHARACTERS,
            NAME_TOO_LONG,
            INVALID_EMAIL,
            INVALID_PHONE,
            program_message(programs),
        }
    )


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------

# Characters that have broken validators before: controls and NUL, combining
# marks, zero-width and bidi controls, odd spaces, look-alike digits, hyphens
# and apostrophes, astral letters and emoji, case-mapping oddities.
HOSTILE_FRAGMENTS = (
    "\x00",
    "\x01",
    "\x1c",  # an information separator: Python's str.split() calls it white space
    "\x1f",
    "\x7f",
    "\u0085",  # NEL
    "\u0301",  # combining acute accent (Mn)
    "\u0489",  # combining cyrillic millions sign (Me)
    "\u093f",  # devanagari vowel sign i (Mc)
    "\u0344",  # combining greek dialytika tonos: NFC makes it two characters
    "\ufb2c",  # hebrew letter shin with dagesh and shin dot: NFC makes it three
    "\u200b",  # zero width space
    "\u200c",  # zero width non-joiner
    "\u200d",  # zero width joiner
    "\u2060",  # word joiner
    "\ufeff",  # byte order mark / zero width no-break space
    "\u00ad",  # soft hyphen
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u061c",  # arabic letter mark
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",  # left-to-right override
    "\u202e",  # right-to-left override
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u00a0",
    "\u2003",
    "\u3000",
    "\u2028",
    "\u2029",
    "\t",
    "\n",
    "\r",
    " ",
    "\ufffd",
    "\uffff",  # a noncharacter (Cn)
    "\ue000",  # private use
    "\U000e0001",  # language tag (Cf), astral
    "\U0010ffff",
    "\U0001f600",  # emoji
    "\U0001f469\u200d\U0001f4bb",  # an emoji ZWJ sequence
    "\U00010400",  # deseret capital long i: an astral letter (Lu)
    "\U0002070e",  # a CJK extension B ideograph (Lo)
    "\uff11",  # fullwidth digit one
    "\u0661",  # arabic-indic digit one
    "\u00b2",  # superscript two
    "\u2460",  # circled digit one
    "'",
    "\u2019",
    "\u2018",
    "\u02bc",  # modifier letter apostrophe: a letter (Lm)
    "-",
    "\u2010",
    "\u2212",
    "@",
    "\uff20",  # fullwidth commercial at
    ".",
    "\u3002",  # ideographic full stop: a label separator to IDNA
    "xn--",
    "\u0130",  # capital I with dot above: lower-cases to two characters
    "\u00df",
    "\ufb00",  # latin small ligature ff
    "\uab70",  # cherokee small letter a: IDNA maps it to upper case
    '"',
    "\\",
    "<script>",
    "'; DROP TABLE users; --",
    "%s",
    "%(name)s",
    "{0}",
    "${jndi:ldap://127.0.0.1/a}",
)

# White space in the Unicode sense that str.split() collapses as well.
WHITESPACE = (" ", "\t", "\n", "\r", "\u00a0", "\u2003", "\u3000", "\u2028", "\u0085", "\u205f")


def _nfc_stable(character: str) -> bool:
    # A character NFC does not expand, so a valid name's length is known in advance.
    return len(unicodedata.normalize("NFC", character)) == 1


LETTERS = st.characters(categories=("Lu", "Ll", "Lt", "Lm", "Lo"), codec="utf-8").filter(
    _nfc_stable
)
MARKS = st.characters(categories=("Mn", "Mc", "Me"), codec="utf-8").filter(_nfc_stable)


@st.composite
def name_words(draw: st.DrawFn) -> str:
    """One word: letters of any script, each maybe with a combining mark."""
    letters = draw(
        st.lists(st.tuples(LETTERS, st.one_of(st.just(""), MARKS)), min_size=1, max_size=8)
    )
    return "".join(letter + mark for letter, mark in letters)


@st.composite
def contract_names(draw: st.DrawFn) -> str:
    """A name the contract allows: at most 4 words of at most 16 characters, and joints."""
    words = draw(st.lists(name_words(), min_size=1, max_size=4))
    joints = st.one_of(
        st.lists(st.sampled_from(WHITESPACE), min_size=1, max_size=3).map("".join),
        st.sampled_from(["-", "'", "\u2019", " - ", "' ", " \u2019"]),
    )
    name = words[0]
    for word in words[1:]:
        name += draw(joints) + word
    padding = st.lists(st.sampled_from(WHITESPACE), max_size=2).map("".join)
    return draw(padding) + name + draw(padding)


@st.composite
def contract_phones(draw: st.DrawFn) -> str:
    """Ten ASCII digits, with spaces, '-', '.', '(' and ')' anywhere, and white space around."""
    digits = draw(st.text(string.digits, min_size=10, max_size=10))
    separators = st.sampled_from(["", "", "", " ", "-", ".", "(", ")", ") ", " (", "--"])
    phone = "".join(draw(separators) + digit for digit in digits) + draw(separators)
    padding = st.sampled_from(["", " ", "\t", "  "])
    return draw(padding) + phone + draw(padding)


@st.composite
def look_alike_phones(draw: st.DrawFn) -> str:
    """Ten digits, some of them not ASCII (fullwidth, Arabic-Indic, superscript...)."""
    digit = st.one_of(st.sampled_from(string.digits), st.characters(categories=("Nd", "No", "Nl")))
    return "".join(draw(st.lists(digit, min_size=9, max_size=11)))


ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
TAG = "+tag"  # in every valid address; see _fresh_addresses


@st.composite
def contract_emails(draw: st.DrawFn) -> str:
    """A syntactically valid address, some internationalised, with white space around.

    The app tests replace TAG with a fresh one, so they mostly get 201, not 409.
    """
    atoms = st.lists(st.text(ATEXT, min_size=1, max_size=10), min_size=1, max_size=3)
    local = draw(
        st.one_of(
            atoms.map(".".join),
            st.sampled_from(
                ["jos\u00e9", "\u041f\u0451\u0442\u0440", "\u7528\u6237", "zo\u00eb.o'brien"]
            ),
        )
    )
    label = st.one_of(
        st.text(string.ascii_letters + string.digits, min_size=1, max_size=12),
        st.sampled_from(["b\u00fccher", "m\u00fcnchen", "\u4f8b\u3048"]),
    )
    labels = draw(st.lists(label, min_size=1, max_size=2))
    tld = draw(st.sampled_from(["com", "org", "edu", "net", "io", "de", "COM", "Org"]))
    padding = st.sampled_from(["", " ", "\t"])
    address = f"{local}{TAG}@{'.'.join([*labels, tld])}"
    return draw(padding) + address + draw(padding)


def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Text made of hostile fragments and any other non-surrogate characters."""
    pieces = st.one_of(
        st.sampled_from(HOSTILE_FRAGMENTS),
        st.characters(codec="utf-8"),  # anything but surrogates, astral planes included
        st.text(max_size=4),
    )
    return st.lists(pieces, max_size=max_size).map("".join)


HOSTILE_TEXT = hostile_text()
HOSTILE_KEYS = st.one_of(
    hostile_text(8),
    st.sampled_from(["Name", "EMAIL", "name ", "\u200bname", "__proto__", "constructor", "id"]),
)


# One hostile fragment or any single character (controls, digits of every
# script, symbols, marks, astral planes): what a mutation puts in.
FRAGMENTS = st.one_of(st.sampled_from(HOSTILE_FRAGMENTS), st.characters(codec="utf-8"))


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[str]) -> str:
    """A valid value with a few characters replaced, inserted or cut out."""
    value = draw(valid)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(value)))
        edit = draw(st.sampled_from(["replace", "insert", "cut"]))
        fragment = draw(FRAGMENTS) if edit != "cut" else ""
        cut = draw(st.integers(1, 3)) if edit == "cut" else int(edit == "replace")
        value = value[:at] + fragment + value[at + cut :]
    return value


# Runs around the 100-character limits, of letters or of other characters.
LONG_TEXT = st.builds(
    lambda piece, count: piece * count,
    st.one_of(st.sampled_from(["a", "\u00e9", "\U00010400", "a ", "ab-", "1", "\u200b"]), LETTERS),
    st.integers(90, 130),
)


def json_values(max_magnitude: int | None) -> st.SearchStrategy[object]:
    """Any JSON value: null, booleans, numbers (huge ones too), text, lists, objects, nested.

    `max_magnitude` bounds the integers; None leaves them unbounded.
    """
    huge = 10**400 if max_magnitude is None else max_magnitude
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64),
        st.integers(-huge, huge),
        st.sampled_from([0, -1, 5551234567, 2**53 + 1, 2**64, -(2**63) - 1, 10**30]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([0.0, -0.0, 5551234567.0, 1e308, -1e308, 5e-324]),
        HOSTILE_TEXT,
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(hostile_text(8), children, max_size=4),
        ),
        max_leaves=12,
    )


ABSENT: Any = object()
"""A field left out of the body."""


def _without_absent(fields: dict[str, object]) -> dict[str, object]:
    return {field: value for field, value in fields.items() if value is not ABSENT}


def hostile_bodies(
    programs: Sequence[str], max_magnitude: int | None
) -> st.SearchStrategy[dict[str, object]]:
    """A JSON object with the four fields, each anything at all, and unknown keys.

    Each field is, by weight, a valid value 5 in 12, a near miss (a valid value
    edited) 3 in 12, else hostile text, a long run, any JSON value (null
    included), or left out.
    """
    anything = json_values(max_magnitude)
    valid = {
        "name": contract_names(),
        "email": contract_emails(),
        "phone": contract_phones(),
        "program": st.sampled_from(programs),
    }
    near = {
        "name": mutated(valid["name"]),
        "email": mutated(valid["email"]),
        "phone": st.one_of(mutated(valid["phone"]), look_alike_phones()),
        "program": st.one_of(
            mutated(valid["program"]),
            st.sampled_from(programs).map(str.upper),
            st.sampled_from(programs).map(lambda p: f" {p} "),
        ),
    }
    fields = st.fixed_dictionaries(
        {
            field: st.one_of(
                *[strategy] * 5,
                *[near[field]] * 3,
                HOSTILE_TEXT,
                LONG_TEXT,
                anything,
                st.just(ABSENT),
            )
            for field, strategy in valid.items()
        }
    ).map(_without_absent)
    unknown = st.dictionaries(HOSTILE_KEYS, anything, max_size=3)
    # The four fields win over an unknown key of the same name.
    return st.builds(lambda extra, known: {**extra, **known}, unknown, fields)


def contract_bodies(programs: Sequence[str]) -> st.SearchStrategy[dict[str, object]]:
    """A registration every check of the contract lets through."""
    return st.fixed_dictionaries(
        {
            "name": contract_names(),
            "email": contract_emails(),
            "phone": contract_phones(),
            "program": st.sampled_from(programs),
        }
    )


PROGRAM_LISTS = st.sampled_from([DEFAULT_PROGRAMS, OTHER_PROGRAMS])

# ---------------------------------------------------------------------------
# The oracle: what the contract says about each field's value
# ---------------------------------------------------------------------------

_NAME_PUNCTUATION = frozenset(" -'\u2019")
_PHONE_SEPARATORS = str.maketrans("", "", " -.()")
_TEN_ASCII_DIGITS = re.compile(r"[0-9]{10}")


@dataclass(frozen=True)
class Verdict:
    """What the contract says of one field's value."""

    fails: bool | None  # None: only the email validator itself can tell
    messages: frozenset[str] = frozenset()  # what its `details` entry may say
    required: bool = False  # missing, null or blank: the answer is "All fields are required"


VALID = Verdict(fails=False)


def _required(field: str, value: object) -> Verdict | None:
    if value is ABSENT or value is None or (isinstance(value, str) and not value.strip()):
        return Verdict(True, frozenset({REQUIRED, f"{field} is required"}), required=True)
    return None


def _is_name_character(character: str) -> bool:
    return character in _NAME_PUNCTUATION or unicodedata.category(character)[0] in "LM"


def clean_name(value: str) -> str:
    """Trimmed, inner white space collapsed to one space, NFC (the README's choice)."""
    return unicodedata.normalize("NFC", " ".join(value.split()))


def name_verdict(value: object) -> Verdict:
    if (required := _required("name", value)) is not None:
        return required
    if not isinstance(value, str):
        return Verdict(True, frozenset({NAME_CHARACTERS}))
    name = clean_name(value)
    bad = not all(map(_is_name_character, name)) or not any(c.isalpha() for c in name)
    long = len(name) > 100
    # The contract does not say which message wins when both apply.
    messages = {NAME_CHARACTERS} if bad else set()
    messages |= {NAME_TOO_LONG} if long else set()
    return Verdict(bool(messages), frozenset(messages))


def _unsafe_in_email(character: str) -> bool:
    # Controls, format characters (zero-width, bidi), private use, unassigned,
    # and every space or separator: never part of an unquoted address.
    return unicodedata.category(character)[0] in "CZ"


def email_verdict(value: object) -> Verdict:
    if (required := _required("email", value)) is not None:
        return required
    if not isinstance(value, str):
        return Verdict(True, frozenset({INVALID_EMAIL}))
    email = value.strip()
    if "@" not in email or any(map(_unsafe_in_email, email)):
        return Verdict(True, frozenset({INVALID_EMAIL}))
    return Verdict(None, frozenset({INVALID_EMAIL}))


def clean_phone(value: str) -> str:
    """Trimmed, then spaces, '-', '.', '(' and ')' removed."""
    return value.strip().translate(_PHONE_SEPARATORS)


def phone_verdict(value: object) -> Verdict:
    if (required := _required("phone", value)) is not None:
        return required
    if not isinstance(value, str) or not _TEN_ASCII_DIGITS.fullmatch(clean_phone(value)):
        return Verdict(True, frozenset({INVALID_PHONE}))
    return VALID


def program_verdict(value: object, programs: Sequence[str]) -> Verdict:
    if (required := _required("program", value)) is not None:
        return required
    if not isinstance(value, str) or value not in programs:
        return Verdict(True, frozenset({program_message(programs)}))
    return VALID


def verdicts(data: dict[str, object], programs: Sequence[str]) -> dict[str, Verdict]:
    return {
        "name": name_verdict(data.get("name", ABSENT)),
        "email": email_verdict(data.get("email", ABSENT)),
        "phone": phone_verdict(data.get("phone", ABSENT)),
        "program": program_verdict(data.get("program", ABSENT), programs),
    }


def assert_failure_keeps_the_contract(
    data: dict[str, object],
    programs: Sequence[str],
    error: object,
    details: Sequence[tuple[object, object]],
) -> None:
    """A refusal of `data`: the right message first, then every failing field, in order."""
    expected = verdicts(data, programs)
    assert error in field_messages(programs), error
    assert details, "a refusal of the fields lists them in details"
    fields = [field for field, _ in details]
    assert all(field in FIELDS for field in fields), fields
    assert len(set(fields)) == len(fields), f"a field listed twice: {fields}"
    assert fields == sorted(fields, key=FIELDS.index), f"not in the contract's order: {fields}"
    for field, message in details:
        assert isinstance(field, str)
        assert message in expected[field].messages, (field, message, expected[field])
    must_fail = {field for field, verdict in expected.items() if verdict.fails is True}
    may_fail = {field for field, verdict in expected.items() if verdict.fails is not False}
    assert must_fail <= set(fields) <= may_fail, (fields, expected)
    if any(verdict.required for verdict in expected.values()):
        assert error == REQUIRED
    else:
        assert error == details[0][1], "error is the first failing check's message"


def assert_cleaned_keeps_the_contract(
    data: dict[str, object], programs: Sequence[str], cleaned: dict[str, object]
) -> None:
    """An acceptance of `data`: nothing the contract refuses, stored values as promised."""
    expected = verdicts(data, programs)
    assert not [field for field, verdict in expected.items() if verdict.fails is True], expected
    name, email, phone, program = (cleaned[field] for field in FIELDS)
    raw_name, raw_email, raw_phone, raw_program = (data[field] for field in FIELDS)
    assert isinstance(name, str)
    assert isinstance(email, str)
    assert isinstance(raw_name, str)
    assert isinstance(raw_email, str)
    assert isinstance(raw_phone, str)
    # Name: 1 to 100 letters, marks, single spaces, hyphens and apostrophes.
    assert 1 <= len(name) <= 100
    assert all(map(_is_name_character, name)), name
    assert any(c.isalpha() for c in name)
    assert name == name.strip()
    assert "  " not in name
    assert unicodedata.is_normalized("NFC", name)
    assert name == clean_name(raw_name)
    # Phone: the 10 ASCII digits that were typed.
    assert isinstance(phone, str)
    assert _TEN_ASCII_DIGITS.fullmatch(phone)
    assert phone == clean_phone(raw_phone)
    # Program: exactly the configured value sent.
    assert program == raw_program
    assert program in programs
    # Email: at most 100 characters, one @, nothing invisible or spacing.
    assert len(email) <= 100
    assert email.count("@") == 1
    assert not any(map(_unsafe_in_email, email)), ascii(email)
    assert unicodedata.category(email[0])[0] != "M"
    typed = raw_email.strip()
    if typed.isascii() and "xn--" not in typed.lower():
        local, _, domain = typed.rpartition("@")
        assert email == f"{local}@{domain.lower()}", "local part as typed, domain lower-cased"


# ---------------------------------------------------------------------------
# (a) The validator, many examples
# ---------------------------------------------------------------------------


def validate(data: dict[str, object], programs: Collection[str]) -> dict[str, object]:
    """parse_registration's cleaned values; anything but ValidationFailed propagates."""
    form = parse_registration(data, programs)
    return {field: getattr(form, field) for field in FIELDS}


@settings(max_examples=500, deadline=None)
@given(case=PROGRAM_LISTS.flatmap(lambda p: st.tuples(st.just(p), hostile_bodies(p, None))))
def test_the_validator_answers_any_json_with_a_clean_form_or_a_contract_failure(
    case: tuple[tuple[str, ...], dict[str, object]],
) -> None:
    programs, body = case
    try:
        cleaned = validate(body, programs)
    except ValidationFailed as failure:
        event(f"refused: {failure.message[:30]}")
        details = [(d.field, d.message) for d in failure.details]
        assert_failure_keeps_the_contract(body, programs, failure.message, details)
    else:
        event("accepted")
        assert_cleaned_keeps_the_contract(body, programs, cleaned)


@settings(max_examples=300, deadline=None)
@given(case=PROGRAM_LISTS.flatmap(lambda p: st.tuples(st.just(p), contract_bodies(p))))
def test_the_validator_accepts_every_registration_the_contract_allows(
    case: tuple[tuple[str, ...], dict[str, object]],
) -> None:
    programs, body = case
    try:
        cleaned = validate(body, programs)
    except ValidationFailed as failure:
        pytest.fail(f"refused {body!r}: {failure.message} {failure.details}")
    assert_cleaned_keeps_the_contract(body, programs, cleaned)


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(FIELDS),
    value=st.one_of(
        st.integers(min_value=2**1024),  # beyond a double: no JSON parser keeps it exact
        st.floats(),  # NaN and infinities included: the validator never sees them from JSON
        st.lists(st.none()),
        st.dictionaries(st.text(max_size=3), st.none()),
        st.booleans(),
    ),
)
def test_a_field_that_is_not_a_string_fails_that_fields_check(field: str, value: object) -> None:
    body = registration(**{field: value})
    with pytest.raises(ValidationFailed) as caught:
        validate(body, DEFAULT_PROGRAMS)
    details = [(d.field, d.message) for d in caught.value.details]
    assert [f for f, _ in details] == [field]
    assert_failure_keeps_the_contract(body, DEFAULT_PROGRAMS, caught.value.message, details)


# ---------------------------------------------------------------------------
# (b) The whole app against the database, fewer examples
# ---------------------------------------------------------------------------

# The `client` fixture is function-scoped, so Hypothesis shares one app (and its
# pool) across the examples of a test. That is deliberate: the app is meant to
# serve any number of requests, and a fresh app per example would be far slower.
# Every value is drawn by @given, before the test's coroutine starts: a draw
# inside it can end the example with Hypothesis's StopTest, a BaseException
# that tears down anyio's runner and with it the client fixture.
APP_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# orjson (the service's parser) refuses numbers beyond a double; that case is
# test_a_number_too_large_for_a_double_fails_a_field_check_not_the_body below,
# so it does not shadow whatever else these properties could find.
DOUBLE_RANGE = 10**300


def _encode(body: object, ascii_only: bool) -> bytes:
    # ensure_ascii sends astral characters as surrogate-pair escapes, the other
    # way raw UTF-8: the service must decode both.
    return json.dumps(body, ensure_ascii=ascii_only).encode()


def _fresh_addresses(body: dict[str, object]) -> dict[str, object]:
    # Hypothesis draws the same address again and again; a fresh tag makes a
    # valid registration new, so the 201 path is the one exercised.
    email = body.get("email")
    if isinstance(email, str) and f"{TAG}@" in email:
        return {**body, "email": email.replace(f"{TAG}@", f"+{uuid.uuid4().hex[:12]}@", 1)}
    return body


async def _post(client: httpx.AsyncClient, content: bytes) -> httpx.Response:
    return await client.post(
        REGISTER, content=content, headers={"Content-Type": "application/json"}
    )


def _assert_stored(mysql: MySQLTarget, database: str, answer: dict[str, Any]) -> None:
    assert set(answer) == {"id", "name", "email", "phone", "program", "created_at"}
    assert uuid.UUID(answer["id"]).version == 4
    rows = mysql.execute(
        "SELECT name, email, phone, program FROM users WHERE id = %s",
        (answer["id"],),
        database=database,
    )
    assert rows == [(answer["name"], answer["email"], answer["phone"], answer["program"])]


def assert_answer_keeps_the_contract(
    response: httpx.Response,
    body: dict[str, object],
    sent: bytes,
    mysql: MySQLTarget,
    database: str,
) -> None:
    """201 stored, 400 with a field message and details, or 409; nothing else."""
    assert response.headers["content-type"] == "application/json", response.headers
    answer = response.json()
    if len(sent) > MAX_BODY_BYTES:
        assert (response.status_code, answer) == (413, {"error": "Request body too large"})
        return
    assert response.status_code in {201, 400, 409}, (response.status_code, answer, body)
    if response.status_code == 201:
        assert_cleaned_keeps_the_contract(body, DEFAULT_PROGRAMS, answer)
        _assert_stored(mysql, database, answer)
    elif response.status_code == 409:
        assert answer == {"error": EMAIL_TAKEN}
        expected = verdicts(body, DEFAULT_PROGRAMS)
        assert not [f for f, verdict in expected.items() if verdict.fails is True], expected
    else:
        assert set(answer) == {"error", "details"}, answer
        assert isinstance(answer["details"], list)
        details = []
        for entry in answer["details"]:
            assert isinstance(entry, dict)
            assert set(entry) == {"field", "message"}, entry
            details.append((entry["field"], entry["message"]))
        assert_failure_keeps_the_contract(body, DEFAULT_PROGRAMS, answer["error"], details)


@settings(APP_SETTINGS, max_examples=80)
@given(body=hostile_bodies(DEFAULT_PROGRAMS, DOUBLE_RANGE), ascii_only=st.booleans())
async def test_the_app_answers_any_json_in_the_fields_with_201_400_or_409(
    client: httpx.AsyncClient,
    mysql: MySQLTarget,
    database: str,
    body: dict[str, object],
    ascii_only: bool,
) -> None:
    body = _fresh_addresses(body)
    sent = _encode(body, ascii_only)
    response = await _post(client, sent)
    event(f"status {response.status_code}")
    assert_answer_keeps_the_contract(response, body, sent, mysql, database)


@settings(APP_SETTINGS, max_examples=30)
@given(body=contract_bodies(DEFAULT_PROGRAMS), ascii_only=st.booleans())
async def test_the_app_stores_every_registration_the_contract_allows(
    client: httpx.AsyncClient,
    mysql: MySQLTarget,
    database: str,
    body: dict[str, object],
    ascii_only: bool,
) -> None:
    body = _fresh_addresses(body)
    sent = _encode(body, ascii_only)
    response = await _post(client, sent)
    # 409 only when an earlier example drew the same address.
    assert response.status_code in {201, 409}, (response.status_code, response.text, body)
    assert_answer_keeps_the_contract(response, body, sent, mysql, database)


@settings(APP_SETTINGS, max_examples=40)
@given(
    value=json_values(DOUBLE_RANGE).filter(lambda v: not isinstance(v, dict)),
    ascii_only=st.booleans(),
)
async def test_json_that_is_not_an_object_gets_the_body_message(
    client: httpx.AsyncClient, value: object, ascii_only: bool
) -> None:
    sent = _encode(value, ascii_only)
    response = await _post(client, sent)
    if len(sent) > MAX_BODY_BYTES:
        assert (response.status_code, response.json()) == (413, {"error": "Request body too large"})
    else:
        assert (response.status_code, response.json()) == (400, {"error": NOT_AN_OBJECT})


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('"phone": 1e400', "phone"),
        ('"phone": -1e400', "phone"),
        (f'"name": {10**400}', "name"),
        ('"program": 1E+999', "program"),
    ],
    ids=["phone-1e400", "phone-minus-1e400", "name-10-to-the-400", "program-1e999"],
)
async def test_a_number_too_large_for_a_double_fails_a_field_check_not_the_body(
    client: httpx.AsyncClient, raw: str, field: str
) -> None:
    # RFC 8259 numbers have no range; the contract says a field whose JSON value
    # is not a string fails that field's check, and the body *is* an object.
    valid = registration()
    valid.pop(field)
    sent = json.dumps(valid)[:-1] + ", " + raw + "}"
    response = await _post(client, sent.encode())
    assert response.status_code == 400
    assert response.json()["error"] != NOT_AN_OBJECT, f"{sent} was called not an object"
    assert [d["field"] for d in response.json()["details"]] == [field]


async def test_an_unknown_key_holding_a_huge_number_is_ignored(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    # "unknown keys are ignored": whatever they hold, as long as the body is JSON.
    sent = json.dumps(registration())[:-1] + ', "utm_score": 1e400}'
    response = await _post(client, sent.encode())
    assert response.status_code == 201, (sent, response.status_code, response.text)
    _assert_stored(mysql, database, response.json())
