"""The confirmation email's words: templates an operator can edit, filled in safely.

The templates are files (mail/templates/, or MAIL_TEMPLATE_DIR), read and
checked once at start-up. Placeholders are `string.Template`'s (`$name`): the
templates hold no logic, so the standard library's substitution is all they
need, and an unknown placeholder is caught before the first email.

The applicant's name is not in the email. It is the one free text an anonymous
sender controls in a school-branded message to an address of their choosing, and
the contract allows letters of any script, so look-alike letters (Lisu and
Canadian syllabics letters that look like `.`, `/`, `:`) pass any rule that lets
every real name through ("Bruce 李小龍" is one script per word, yet mixed).
Leaving it out refuses no real name and renders every name inert; staff still
see it (docs/mail.md).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from string import Template

from email_validator import EmailNotValidError, validate_email

from config.errors import ConfigError, MailRejected
from config.settings import Settings
from models.mail_outbox import OwedMail

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_SUBJECT, _TEXT, _HTML = "confirmation.subject.txt", "confirmation.txt", "confirmation.html"
# A value of each placeholder, to check the templates at start-up.
_SAMPLE = {
    "school": "School",
    "program": "Program",
    "registration_id": "00000000-0000-4000-8000-000000000000",
    "registered_at": "2026-01-01 00:00 UTC",
}


@dataclass(frozen=True, slots=True)
class Mail:
    """One email, ready to send; `key` is the registration's id (one email each)."""

    key: str
    to: str
    subject: str
    text: str
    html: str


def one_line(value: str) -> str:
    """`value` with line breaks, tabs and control characters turned into single spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())


class ConfirmationEmail:
    """Builds the email confirming one registration."""

    def __init__(self, settings: Settings) -> None:
        directory = settings.mail_template_dir or TEMPLATE_DIR
        self._subject = _load(directory, _SUBJECT)
        self._text = _load(directory, _TEXT)
        self._html = _load(directory, _HTML)
        self._school = one_line(settings.school_name)
        self._labels = {program.value: program.label for program in settings.programs}

    def compose(self, owed: OwedMail) -> Mail:
        """The email for `owed`; MailRejected when its address cannot receive one."""
        # Checked again: a row written by the old service, or by hand, never had our validation.
        try:
            validate_email(owed.email, check_deliverability=False)
        except EmailNotValidError as exc:
            raise MailRejected(f"invalid recipient address: {exc}") from None
        program = owed.program or ""
        values = {
            "school": self._school,
            "program": one_line(self._labels.get(program, program)),
            "registration_id": owed.user_id,
            "registered_at": f"{owed.registered_at:%Y-%m-%d %H:%M} UTC",
        }
        escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
        return Mail(
            key=owed.user_id,
            to=owed.email,
            subject=one_line(self._subject.substitute(values)),
            text=self._text.substitute(values),
            html=self._html.substitute(escaped),
        )


def _load(directory: Path, name: str) -> Template:
    path = directory / name
    try:
        template = Template(path.read_text(encoding="utf-8"))
        template.substitute(_SAMPLE)
    except OSError as exc:
        raise ConfigError("MAIL_TEMPLATE_DIR", f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError("MAIL_TEMPLATE_DIR", f"{path} is not UTF-8") from None
    except KeyError as exc:
        problem = f"{path} has an unknown placeholder ${exc.args[0]}"
        raise ConfigError("MAIL_TEMPLATE_DIR", problem) from None
    except ValueError as exc:
        raise ConfigError("MAIL_TEMPLATE_DIR", f"{path}: {exc} (write $$ for a $)") from None
    return template
