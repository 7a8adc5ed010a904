"""Masks for applicants' personal data before it reaches a log line."""

import re


def mask_email(email: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com`: enough to correlate, not to contact."""
    local, at, domain = email.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


_ADDRESS = re.compile(r"[^\s@<>()\[\]\"',;:]+@[^\s@<>()\[\]\"',;:]+")


def mask_emails_in(text: str) -> str:
    """Every address in `text` (a provider's error message, say) masked as `mask_email` does."""
    return _ADDRESS.sub(lambda match: mask_email(match[0]), text)
