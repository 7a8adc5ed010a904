"""The registration form's rules, in the contract's order, with its exact messages.

Emails are checked by email-validator, its domain step done once per domain:
`validate_email` spends about three quarters of its time on the domain
(IDNA/UTS-46 mapping and the label rules; docs/performance.md), a pure function
of the domain text, and registrations keep coming from a few domains. The library
has no hook for it, so the step is memoised in the one namespace email-validator
calls it from (tests/controllers/test_registration_form.py fails loudly if the
library moves it). Only valid domains are kept (a failure raises, and `lru_cache`
keeps no exceptions), and a valid domain is at most 253 characters, so the cache
holds at most `DOMAIN_CACHE_SIZE` short strings. Every answer is the library's own.
"""

from __future__ import annotations

import functools
import importlib
import re
import unicodedata
from collections.abc import Callable, Collection
from typing import Any

from email_validator import EmailNotValidError, ValidatedEmail, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from config.errors import FieldError, ValidationFailed

NAME_MAX = 100
EMAIL_MAX = 100
FIELDS = ("name", "email", "phone", "program")

REQUIRED = "All fields are required"
NAME_CHARACTERS = "Name must contain only letters, spaces, hyphens, or apostrophes"
NAME_TOO_LONG = f"Name must be at most {NAME_MAX} characters"
INVALID_EMAIL = "Invalid email format"
INVALID_PHONE = "Phone number must be 10 digits"

_NAME_PUNCTUATION = frozenset(" -'\u2019")
# The rule for ASCII names: ASCII letters are the only ASCII characters of categories L and M.
_ASCII_NAME = re.compile(r"[A-Za-z '-]*[A-Za-z][A-Za-z '-]*")
_PHONE_SEPARATORS = str.maketrans("", "", " -.()")
_TEN_DIGITS = re.compile(r"[0-9]{10}", re.ASCII)
# The rules above as the OpenAPI document states them (ECMA-262 regular expressions).
# Marks: the combining diacriticals only (generators read \p{M} as whole blocks, unassigned
# code points too, which the rule refuses); other marks are accepted as well.
NAME_PATTERN = r"^[\p{L}\u0300-\u036F\s'\u2019-]*\p{L}[\p{L}\u0300-\u036F\s'\u2019-]*$"
PHONE_PATTERN = r"^[ .()-]*(?:[0-9][ .()-]*){10}$"
# email-validator's rules do not fit a pattern: this is a subset it always accepts (dot-atom
# ASCII, hyphen-joined labels, a 2-3 letter TLD, which no special-use name is), at most 100.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9_%+-]{1,20}(?:\.[A-Za-z0-9_%+-]{1,10}){0,2}"
    r"@(?:[A-Za-z0-9]{1,8}(?:-[A-Za-z0-9]{1,8})?\.){1,3}[A-Za-z]{2,3}$"
)


DOMAIN_CACHE_SIZE = 4096

# The namespace email-validator's `validate_email` looks its domain step up in
# (the module, not the function of the same name the package exports).
_VALIDATE_NAMESPACE = vars(importlib.import_module("email_validator.validate_email"))
_DOMAIN_STEP = "validate_email_domain_name"


def _memoised(check: Callable[..., Any]) -> Callable[..., Any]:
    if hasattr(check, "cache_info"):
        return check  # already memoised (a reload of this module)
    # The library reads the result without changing it, so one dict can be shared.
    return functools.lru_cache(maxsize=DOMAIN_CACHE_SIZE)(check)


_VALIDATE_NAMESPACE[_DOMAIN_STEP] = _memoised(_VALIDATE_NAMESPACE[_DOMAIN_STEP])


def checked_email(address: str) -> ValidatedEmail:
    """email-validator's verdict on `address`, without DNS; EmailNotValidError if refused."""
    return validate_email(address, check_deliverability=False)


def invalid_program_message(programs: Collection[str]) -> str:
    """The contract's message for a program outside the configured list."""
    return f"Invalid program. Must be one of: {', '.join(programs)}"


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _present(value: Any) -> Any:
    # "Missing" covers null and text that is empty once trimmed; other types
    # are present and fail the field's own check.
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _fail("required", REQUIRED)
    return value


def _is_name_character(character: str) -> bool:
    return character in _NAME_PUNCTUATION or unicodedata.category(character)[0] in "LM"


def _is_name(name: str) -> bool:
    # Most names are ASCII, where the rule is this pattern: a fifth of the cost of
    # asking each character's Unicode category (docs/performance.md).
    if name.isascii():
        return _ASCII_NAME.fullmatch(name) is not None
    return all(map(_is_name_character, name)) and any(c.isalpha() for c in name)


class RegistrationForm(BaseModel):
    """An applicant as submitted, cleaned: trimmed name, normalised email, digits-only phone."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(
        max_length=NAME_MAX,
        description="Letters of any script (with their marks), spaces, hyphens and"
        " apostrophes, at least one letter; trimmed, inner white space collapsed, then"
        " at most 100 characters.",
        examples=["José O'Brien"],
        json_schema_extra={"pattern": NAME_PATTERN},
    )
    email: str = Field(
        max_length=EMAIL_MAX,
        description="Checked by email-validator without a DNS look-up, which is stricter"
        " than `format: email`: no quoted local part, no IP-literal domain, no special-use"
        " domain (`.local`, `.test`, `localhost`, ...); at most 100 characters once"
        " normalised. The pattern is a subset it always accepts, for tools that generate"
        " addresses; others (longer TLDs, internationalised) are accepted too.",
        examples=["jose@example.com"],
        json_schema_extra={"format": "email", "pattern": EMAIL_PATTERN},
    )
    phone: str = Field(
        description="10 ASCII digits once spaces, '-', '.', '(' and ')' are removed.",
        examples=["(555) 123-4567"],
        json_schema_extra={"pattern": PHONE_PATTERN},
    )
    program: str = Field(description="One of the configured program values.")

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str:
        value = _present(value)
        if not isinstance(value, str):
            raise _fail("name", NAME_CHARACTERS)
        name = unicodedata.normalize("NFC", " ".join(value.split()))
        if not _is_name(name):
            raise _fail("name", NAME_CHARACTERS)
        if len(name) > NAME_MAX:
            raise _fail("name", NAME_TOO_LONG)
        return name

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str:
        value = _present(value)
        if not isinstance(value, str):
            raise _fail("email", INVALID_EMAIL)
        try:
            email = checked_email(value.strip()).normalized
        except EmailNotValidError:
            raise _fail("email", INVALID_EMAIL) from None
        if len(email) > EMAIL_MAX:
            raise _fail("email", INVALID_EMAIL)
        return email

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any) -> str:
        value = _present(value)
        if not isinstance(value, str):
            raise _fail("phone", INVALID_PHONE)
        phone = value.strip().translate(_PHONE_SEPARATORS)
        if not _TEN_DIGITS.fullmatch(phone):
            raise _fail("phone", INVALID_PHONE)
        return phone

    @field_validator("program", mode="before")
    @classmethod
    def _program(cls, value: Any, info: ValidationInfo) -> str:
        programs: Collection[str] = info.context["programs"] if info.context else ()
        value = _present(value)
        if not isinstance(value, str) or value not in programs:
            raise _fail("program", invalid_program_message(programs))
        return value


def parse_registration(data: dict[str, Any], programs: Collection[str]) -> RegistrationForm:
    """Validate a registration; ValidationFailed carries the first failure and every field's."""
    try:
        return RegistrationForm.model_validate(data, context={"programs": programs})
    except ValidationError as exc:
        raise _failure(exc) from None


def _failure(exc: ValidationError) -> ValidationFailed:
    details = []
    missing = False
    for error in exc.errors(include_url=False, include_input=False):
        field = str(error["loc"][0]) if error["loc"] else "body"
        if error["type"] in ("missing", "required"):
            missing = True
            details.append(FieldError(field, f"{field} is required"))
        else:
            details.append(FieldError(field, error["msg"]))
    details.sort(key=lambda d: FIELDS.index(d.field) if d.field in FIELDS else len(FIELDS))
    message = REQUIRED if missing else details[0].message
    return ValidationFailed(message, details)
