"""The memoised domain step answers exactly as email-validator does without it."""

from __future__ import annotations

from unittest import mock

import email_validator.syntax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controllers import email_address
from controllers.email_address import EmailNotValidError, checked_email, domain_cache_info

ADDRESSES = [
    "ada@example.com",
    "Ada@EXAMPLE.com",
    "josé@example.com",
    "ada@bücher.example",
    "ada@xn--bcher-kva.example",
    "ada@ＥＸＡＭＰＬＥ.com",
    "ada@example..com",
    "ada@example",
    "ada@-example.com",
    "ada@exa mple.com",
    "ada@" + "a" * 64 + ".com",
    "ada@" + ("a" * 60 + ".") * 5 + "com",
    "ada@[127.0.0.1]",
    "ada@localhost",
    "ada@example.invalid",
    "ada@",
    "postmaster@Example.org",
]


def verdict(address: str) -> tuple[str, ...]:
    """What the caller can see of a verdict: the values, or the error's words."""
    try:
        found = checked_email(address)
    except EmailNotValidError as exc:
        return ("refused", str(exc))
    return (found.normalized, str(found.ascii_email), found.domain, found.ascii_domain)


def library_verdict(address: str) -> tuple[str, ...]:
    """The verdict of email-validator as shipped: its own domain step, not the memoised one."""
    with mock.patch.dict(
        email_address._VALIDATE_NAMESPACE,
        {"validate_email_domain_name": email_validator.syntax.validate_email_domain_name},
    ):
        return verdict(address)


@pytest.mark.parametrize("address", ADDRESSES)
def test_first_and_repeated_verdicts_equal_the_librarys(address: str) -> None:
    expected = library_verdict(address)
    assert verdict(address) == expected
    assert verdict(address) == expected  # the second from the cache, if valid


@given(st.text(max_size=12), st.sampled_from(["example.com", "Example.COM", "bücher.de", "a..b"]))
@settings(max_examples=300, deadline=None)
def test_any_local_part_at_a_seen_domain_gets_the_librarys_verdict(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    assert verdict(address) == library_verdict(address)


def test_a_second_address_at_a_domain_reuses_its_check() -> None:
    checked_email("first@memo-test.example.org")
    before = domain_cache_info()
    checked_email("second@memo-test.example.org")
    after = domain_cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)


def test_a_refused_domain_is_not_kept() -> None:
    before = domain_cache_info()
    for _ in range(2):
        with pytest.raises(EmailNotValidError):
            checked_email("ada@refused..example.org")
    after = domain_cache_info()
    assert after.currsize == before.currsize
    assert after.misses == before.misses + 2


def test_the_cache_is_bounded() -> None:
    assert domain_cache_info().maxsize == email_address.DOMAIN_CACHE_SIZE
