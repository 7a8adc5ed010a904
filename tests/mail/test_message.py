"""The confirmation email: every field in it, every value escaped, templates an operator edits."""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from config.errors import ConfigError, MailRejected
from config.settings import Program, Settings
from mail.message import TEMPLATE_DIR, ConfirmationEmail, one_line
from mail.transports import FileTransport
from models.mail_outbox import OwedMail

USER_ID = "0f38c48a-2cfe-498e-a557-c03bd59b6a50"


def owed(**fields: object) -> OwedMail:
    values: dict[str, object] = {
        "user_id": USER_ID,
        "claim": "c",
        "attempts": 1,
        "name": "José O'Brien",
        "email": "jose.obrien@example.com",
        "program": "computer-science",
        "registered_at": datetime(2026, 11, 21, 6, 21, 33),
    }
    values.update(fields)
    return OwedMail(**values)  # type: ignore[arg-type]


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"school_name": "Riverside College", **overrides}
    return Settings(**values)  # type: ignore[arg-type]


def test_the_email_holds_school_name_program_id_and_time() -> None:
    mail = ConfirmationEmail(settings()).compose(owed())

    assert mail.key == USER_ID
    assert mail.to == "jose.obrien@example.com"
    assert mail.subject == "Riverside College: we have received your application"
    for part in (mail.text, mail.html):
        assert "Riverside College" in part
        assert "Computer Science" in part  # the label, not the value
        assert USER_ID in part
        assert "2026-11-21 06:21 UTC" in part
    assert "Dear applicant," in mail.text
    assert "Dear applicant," in mail.html


def test_every_value_is_escaped_in_the_html_and_kept_on_one_line_in_the_subject() -> None:
    hostile = settings(
        school_name="A & B <School>",
        programs=(Program("x", '<img src=x onerror="alert(1)">'),),
    )
    mail = ConfirmationEmail(hostile).compose(owed(name="<b>Eve</b>\r\nBcc: all", program="x"))

    assert "<img" not in mail.html
    assert "<b>Eve" not in mail.html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in mail.html
    assert "A &amp; B &lt;School&gt;" in mail.html
    assert "\r" not in mail.subject
    assert "\n" not in mail.subject
    assert mail.subject.startswith("A & B <School>:")
    assert "Eve" not in mail.text


def test_the_file_transport_writes_both_parts_and_no_value_adds_a_header(tmp_path: Path) -> None:
    mail = ConfirmationEmail(settings()).compose(owed())
    path = Path(FileTransport(tmp_path, "Admissions <a@school.example.edu>").send(mail))

    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "jose.obrien@example.com"
    assert message["Subject"] == mail.subject
    assert message.get_all("Bcc") is None
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Riverside College" in text.get_content()
    assert "Riverside College" in html.get_content()


def test_a_line_break_in_a_header_value_is_refused_not_sent(tmp_path: Path) -> None:
    mail = ConfirmationEmail(settings()).compose(owed())
    forged = type(mail)(mail.key, mail.to, "Hello\r\nBcc: everyone@example.com", "t", "h")
    with pytest.raises(MailRejected):
        FileTransport(tmp_path, "a@school.example.edu").send(forged)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "address",
    ["not-an-address", "a@b@example.com", "a@example.com\r\nBcc: x@example.com", ""],
)
def test_an_address_that_cannot_receive_is_rejected_before_any_send(address: str) -> None:
    with pytest.raises(MailRejected, match="invalid recipient address"):
        ConfirmationEmail(settings()).compose(owed(email=address))


def test_an_unknown_program_shows_its_stored_value() -> None:
    mail = ConfirmationEmail(settings()).compose(owed(program="astronomy"))
    assert "the astronomy program" in mail.text


def copy_templates(target: Path) -> Path:
    target.mkdir()
    for template in TEMPLATE_DIR.glob("confirmation*"):
        (target / template.name).write_text(template.read_text())
    return target


def test_an_operator_edits_the_templates_without_code(tmp_path: Path) -> None:
    directory = copy_templates(tmp_path / "templates")
    (directory / "confirmation.subject.txt").write_text("Welcome to ${school}!\n")
    (directory / "confirmation.txt").write_text("Fee: $$20. Id $registration_id\n")

    mail = ConfirmationEmail(settings(mail_template_dir=directory)).compose(owed())

    assert mail.subject == "Welcome to Riverside College!"
    assert mail.text == f"Fee: $20. Id {USER_ID}\n"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("Dear $applicant", "has an unknown placeholder $applicant"),
        ("Costs $ 20", "write $$ for a $"),
    ],
)
def test_a_broken_template_stops_the_start_naming_the_variable(
    tmp_path: Path, content: str, problem: str
) -> None:
    directory = copy_templates(tmp_path / "templates")
    (directory / "confirmation.html").write_text(content)
    with pytest.raises(ConfigError) as caught:
        ConfirmationEmail(settings(mail_template_dir=directory))
    assert caught.value.variable == "MAIL_TEMPLATE_DIR"
    assert problem in caught.value.problem


def test_a_missing_template_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^MAIL_TEMPLATE_DIR: cannot read .*confirmation"):
        ConfirmationEmail(settings(mail_template_dir=tmp_path))


def test_one_line_turns_every_break_and_control_into_one_space() -> None:
    assert one_line(" a\r\nb\tc\u2028d\x00e\x1b  f ") == "a b c d e f"


@pytest.mark.parametrize(
    "name",
    [
        "httpsːᐟᐟevilꓸcom ꓸ pay now",
        "José O'Brien",
        "Zoë Saldaña",
        "李小龍",
        "Дмитрий",
        "محمد",
    ],
)
def test_no_name_reaches_the_email_whatever_its_letters(name: str) -> None:
    mail = ConfirmationEmail(settings()).compose(owed(name=name))

    for part in (mail.subject, mail.text, mail.html):
        assert name not in part
        assert "ꓸ" not in part
        assert "ᐟ" not in part
    assert "Dear applicant," in mail.text


def test_a_template_asking_for_the_name_is_refused_at_start_up(tmp_path: Path) -> None:
    directory = copy_templates(tmp_path / "templates")
    (directory / "confirmation.txt").write_text("Dear $name,\n")

    with pytest.raises(ConfigError, match=r"unknown placeholder \$name"):
        ConfirmationEmail(settings(mail_template_dir=directory))
