"""The programs an applicant can choose: the defaults, and `PROGRAMS` parsed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Program:
    """One program an applicant can choose: the stored value and the label a form shows."""

    value: str
    label: str


DEFAULT_PROGRAMS = (
    Program("computer-science", "Computer Science"),
    Program("engineering", "Engineering"),
    Program("business", "Business"),
    Program("arts", "Arts"),
    Program("medicine", "Medicine"),
)


def parse_programs(text: str) -> tuple[Program, ...]:
    """Parse `PROGRAMS`: comma-separated `value` or `value:Label` entries."""
    programs = []
    for entry in text.split(","):
        value, _, label = entry.strip().partition(":")
        value, label = value.strip(), label.strip()
        if not value:
            continue
        programs.append(Program(value, label or value.replace("-", " ").title()))
    if not programs:
        raise ValueError("lists no program")
    if len({p.value for p in programs}) != len(programs):
        raise ValueError("lists a program twice")
    return tuple(programs)
