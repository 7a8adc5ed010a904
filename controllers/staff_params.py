"""Reading the staff routes' query parameters: filters, dates, limits and cursors.

Anything that cannot be read is an InvalidParameter (400) naming the parameter;
nothing is guessed: an unknown `program` is a 400 listing the valid ones, not an
empty list. Times are ISO 8601; with an offset (2026-12-01T00:00:00-05:00) they
are converted to UTC, without one they are UTC. A date alone means the whole day:
`since=2025-01-31` from its first second, `until=2025-01-31` through its last.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from starlette.datastructures import QueryParams

from config.errors import InvalidParameter
from models.registrations import Filters, Position, search_key

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_SEARCH = 100
MAX_PROGRAM = 50  # the column's width
MAX_ID = 36
# The one rule between parameters; JSON Schema cannot state it, so the document says it in words.
SINCE_AFTER_UNTIL = "since must be before until"
# How the OpenAPI document states these parameters (ECMA-262 regular expressions).
SEARCH_PATTERN = r"^\s*$|[\p{L}\p{N}]"  # blank: no filter
# A `next` value's own format name (unpadded base64url): only one this service gave is
# valid (encode_cursor), which no pattern can say, so the document names it.
CURSOR_FORMAT = "cursor"


FILTERS = ("program", "since", "until", "q")
PAGING = ("limit", "cursor")


def only(params: QueryParams, known: tuple[str, ...]) -> QueryParams:
    """`params`, each known at most once; a typo (`programme=`) is a 400, not a silent no-op."""
    for name in params:
        if name not in known:
            raise InvalidParameter(f"unknown query parameter {name!r}; known: {', '.join(known)}")
        if len(params.getlist(name)) > 1:
            raise InvalidParameter(f"{name} is given more than once")
    return params


def registration_filters(params: QueryParams, programs: Sequence[str]) -> Filters:
    """`program` (one of `programs`), `since`, `until` and `q` as a Filters."""
    since = _time(params, "since", end_of_day=False)
    until = _time(params, "until", end_of_day=True)
    if since is not None and until is not None and since >= until:
        raise InvalidParameter(SINCE_AFTER_UNTIL)
    program = _text(params, "program", MAX_PROGRAM)
    if program is not None and program not in programs:
        raise InvalidParameter(f"program must be one of: {', '.join(programs)}")
    search = _text(params, "q", MAX_SEARCH)
    if search is not None and not search_key(search):
        raise InvalidParameter("q must contain a letter or a digit")
    return Filters(program=program, since=since, before=until, search=search)


def limit(params: QueryParams) -> int:
    """`limit`: 1 to MAX_LIMIT rows a page, DEFAULT_LIMIT when absent."""
    text = params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    # Length before int(): it refuses over 4,300 digits with a ValueError of its own.
    digits = text.lstrip("0") if text.isascii() and text.isdigit() else "x"
    if (
        len(digits) > len(str(MAX_LIMIT))
        or not digits.isdigit()
        or not 1 <= int(digits) <= MAX_LIMIT
    ):
        raise InvalidParameter(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(digits)


def encode_cursor(position: Position) -> str:
    """An opaque `next` value for the page after `position`."""
    text = f"{position.created_at:%Y-%m-%dT%H:%M:%S}|{position.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def cursor(params: QueryParams) -> Position | None:
    """The position a `cursor` parameter (a `next` value) stands for, if given."""
    text = params.get("cursor")
    if text is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        stamp, separator, row_id = raw.partition("|")
        created_at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameter("cursor is not a `next` value this service gave") from None
    if not separator or not row_id or len(row_id) > MAX_ID:
        raise InvalidParameter("cursor is not a `next` value this service gave")
    return Position(created_at, row_id)


def _text(params: QueryParams, name: str, longest: int) -> str | None:
    value = params.get(name, "")
    if len(value) > longest:
        raise InvalidParameter(f"{name} must be at most {longest} characters")
    return value.strip() or None


_UNENCODED_PLUS = re.compile(r" (\d{2}:?\d{2})$")


def _after(moment: datetime, step: timedelta) -> datetime:
    # The last representable day (9999-12-31) has no next one: its end is the end of time.
    return moment + step if moment <= datetime.max - step else datetime.max


def _time(params: QueryParams, name: str, *, end_of_day: bool) -> datetime | None:
    """The parameter as naive UTC; a date alone is its day's start (or the next day's)."""
    text = params.get(name)
    if text is None:
        return None
    # Blank is no date: refused as the document says (the whole parameter may be left out).
    # A `+01:00` offset sent unencoded arrives as a space: put the plus back.
    text = _UNENCODED_PLUS.sub(r"+\1", text.strip())
    try:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            # `until` includes its own instant; the query's bound is exclusive.
            return _after(moment, timedelta(microseconds=1)) if end_of_day else moment
        start = datetime(day.year, day.month, day.day)
        return _after(start, timedelta(days=1)) if end_of_day else start
    except ValueError:
        raise InvalidParameter(
            f"{name} must be an ISO 8601 date or date-time, e.g. 2025-01-31 or 2025-01-31T09:30:00Z"
        ) from None
