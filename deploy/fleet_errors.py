"""The fleet check's error: a step that failed, told in one line."""

from __future__ import annotations

from podman_cli import ImageCheckError


class FleetError(ImageCheckError):
    """A step of the fleet check failed (a subclass: the shared helpers' errors are caught too)."""
