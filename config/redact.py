"""Masks for applicants' personal data before it reaches a log line."""


def mask_email(email: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com`: enough to correlate, not to contact."""
    local, at, domain = email.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    """`5551234567` -> `******4567`."""
    return "*" * max(len(phone) - 4, 0) + phone[-4:] if len(phone) > 4 else "****"
