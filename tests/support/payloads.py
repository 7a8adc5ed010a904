"""Registration bodies for tests, each with an address no other test uses."""

from __future__ import annotations

import uuid
from typing import Any


def unique_email(domain: str = "example.com") -> str:
    """An address no other test has registered."""
    return f"applicant.{uuid.uuid4().hex[:16]}@{domain}"


def registration(**fields: Any) -> dict[str, Any]:
    """A valid registration with a unique email; keyword arguments replace fields."""
    body: dict[str, Any] = {
        "name": "Ada Lovelace",
        "email": unique_email(),
        "phone": "555-123-4567",
        "program": "computer-science",
    }
    body.update(fields)
    return body
