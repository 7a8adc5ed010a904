"""The staff console at /staff in Debian's chromium, against the service and MariaDB.

The last tests need the backend of issue 17 (GET /api/staff/key, `total`, substring
search, the .xlsx, roles, expiry, bounced/complained counts).
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import ADMIN_NAME, TIME_ZONE, Console
from tests.support.cli import run_cli
from tests.support.staff import make_key, row, seed

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
PAGE_SIZE = 25  # the console's page size
PAGE_WEIGHT_BUDGET = 64 * 1024
COLUMNS = ["Name", "Email", "Phone", "Program", "Registered"]


def utc_now() -> datetime:
    """Now as the database stores it: naive UTC, whole seconds."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def shot(page: Page, folder: Path, state: str) -> None:
    """Screenshot the page as it is, named after the test and the state."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "test").split(" ")[0].split("::")[-1]
    test = re.sub(r"[^\w-]+", "_", current)
    page.screenshot(path=folder / f"{test}--{state}.png", full_page=True)


def sign_in(page: Page, console: Console, key: str | None = None) -> None:
    """Open /staff, sign in with the key and wait for the registrations."""
    page.goto(console.url)
    page.get_by_label("Staff key").fill(key or console.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Registrations")).to_be_visible()


def table_rows(page: Page) -> Locator:
    return page.locator("#registrations tbody tr")


def names(page: Page) -> list[str]:
    return page.locator("#registrations tbody tr td:first-child").all_inner_texts()


def local_time(moment: datetime) -> str:
    """A UTC time as the console shows it in the officer's zone (en-US)."""
    local = moment.replace(tzinfo=UTC).astimezone(ZoneInfo(TIME_ZONE))
    hour = local.hour % 12 or 12
    return f"{local:%b} {local.day}, {local.year}, {hour}:{local:%M} {local:%p}"


def plain(text: str) -> str:
    """Text with ICU's narrow no-break spaces as plain ones."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


def test_sign_in_lists_newest_first_in_local_time(
    page: Page, console: Console, screenshots: Path
) -> None:
    start = utc_now().replace(second=0) - timedelta(days=2)
    rows = [
        row("Ada Lovelace", start, program="engineering"),
        row("Grace Hopper", start + timedelta(hours=1), program="computer-science", phone=None),
        row("Alan Turing", start + timedelta(hours=2), program="arts"),
    ]
    seed(console.mysql, console.database, rows)

    answer = page.goto(console.url)
    assert answer is not None
    assert answer.headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    shot(page, screenshots, "signed-out")
    page.get_by_label("Staff key").fill(console.key)
    page.get_by_role("button", name="Sign in").click()
    expect(table_rows(page)).to_have_count(3)

    headers = page.locator("#registrations thead th").all_inner_texts()
    assert headers[:5] == COLUMNS
    assert names(page) == ["Alan Turing", "Grace Hopper", "Ada Lovelace"]
    grace = table_rows(page).nth(1).locator("td").all_inner_texts()
    assert grace[:4] == ["Grace Hopper", rows[1][2], "—", "Computer Science"]
    assert plain(grace[4]) == local_time(rows[1][5])
    # The key lives in this tab's sessionStorage only: not in the address, not in a cookie.
    assert page.evaluate("sessionStorage.getItem('schoolapp.staffKey')") == console.key
    assert console.key not in page.url
    assert page.context.cookies() == []
    shot(page, screenshots, "signed-in")


def test_search_and_program_filter(page: Page, console: Console, screenshots: Path) -> None:
    start = utc_now() - timedelta(days=1)
    seed(
        console.mysql,
        console.database,
        [
            row("Ada Lovelace", start, program="engineering"),
            row("Grace Hopper", start + timedelta(minutes=1), program="arts"),
            row("Alan Turing", start + timedelta(minutes=2), program="engineering"),
        ],
    )
    sign_in(page, console)
    expect(table_rows(page)).to_have_count(3)

    page.get_by_label("Search", exact=True).fill("GRA")  # any part, any case
    expect(table_rows(page)).to_have_count(1)
    assert names(page) == ["Grace Hopper"]
    shot(page, screenshots, "searched")

    page.get_by_label("Search", exact=True).fill("")
    expect(table_rows(page)).to_have_count(3)
    labels = page.get_by_label("Program", exact=True).locator("option").all_inner_texts()
    programs = httpx.get(f"{console.service.base_url}/api/programs", timeout=5).json()["programs"]
    assert labels == ["All programs"] + [p["label"] for p in programs]
    page.get_by_label("Program", exact=True).select_option(label="Engineering")
    expect(table_rows(page)).to_have_count(2)
    assert names(page) == ["Alan Turing", "Ada Lovelace"]
    shot(page, screenshots, "filtered-by-program")


def test_pages_forward_and_back(page: Page, console: Console) -> None:
    start = utc_now() - timedelta(days=1)
    rows = [row(f"Applicant {i:02}", start + timedelta(minutes=i)) for i in range(PAGE_SIZE + 2)]
    seed(console.mysql, console.database, rows)
    sign_in(page, console)
    expect(table_rows(page)).to_have_count(PAGE_SIZE)
    first = names(page)
    assert first[0] == f"Applicant {PAGE_SIZE + 1:02}"
    previous = page.get_by_role("button", name="Previous page")
    expect(previous).to_be_disabled()

    page.get_by_role("button", name="Next page").click()
    expect(table_rows(page)).to_have_count(2)
    assert names(page) == ["Applicant 01", "Applicant 00"]
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()

    previous.click()
    expect(table_rows(page)).to_have_count(PAGE_SIZE)
    assert names(page) == first


def test_from_and_to_are_days_in_the_officers_zone(page: Page, console: Console) -> None:
    # 2026-03-01 in New York (UTC-5) runs from 05:00 UTC on the 1st to 05:00 UTC on the 2nd.
    seed(
        console.mysql,
        console.database,
        [
            row("Before Midnight", datetime(2026, 3, 1, 4, 30)),
            row("Early Morning", datetime(2026, 3, 1, 5, 30)),
            row("Late Evening", datetime(2026, 3, 2, 4, 30)),
            row("Next Day", datetime(2026, 3, 2, 5, 30)),
        ],
    )
    sign_in(page, console)
    expect(table_rows(page)).to_have_count(4)

    with page.expect_request(lambda r: "/api/registrations?" in r.url and "since=" in r.url):
        page.get_by_label("From", exact=True).fill("2026-03-01")
    with page.expect_request(
        lambda r: "/api/registrations?" in r.url and "until=" in r.url
    ) as sent:
        page.get_by_label("To", exact=True).fill("2026-03-01")
    query = httpx.URL(sent.value.url).params
    assert query["since"] == "2026-03-01T00:00:00.000-05:00"
    assert query["until"] == "2026-03-01T23:59:59.999-05:00"
    expect(table_rows(page)).to_have_count(2)
    assert names(page) == ["Late Evening", "Early Morning"]


def test_erase_through_the_dialog(page: Page, console: Console, screenshots: Path) -> None:
    start = utc_now() - timedelta(hours=3)
    ada = row("Ada Lovelace", start, email="ada.lovelace@example.com")
    grace = row("Grace Hopper", start + timedelta(minutes=1))
    seed(console.mysql, console.database, [ada, grace])
    sign_in(page, console)
    expect(table_rows(page)).to_have_count(2)

    # Escape cancels, and focus goes back to the button that opened the dialog.
    grace_erase = (
        table_rows(page).filter(has_text="Grace Hopper").get_by_role("button", name="Erase")
    )
    grace_erase.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(grace_erase).to_be_focused()

    table_rows(page).filter(has_text="Ada Lovelace").get_by_role("button", name="Erase").click()
    expect(dialog).to_be_visible()
    confirm = dialog.get_by_label("Type the applicant's email to confirm")
    expect(confirm).to_be_focused()
    erase = dialog.get_by_role("button", name="Erase registration")
    expect(erase).to_be_disabled()
    confirm.fill(grace[2])  # another applicant's address does not unlock it
    expect(erase).to_be_disabled()
    confirm.fill("ada.lovelace@example.co")
    expect(erase).to_be_disabled()
    confirm.fill("Ada.Lovelace@example.com")
    expect(erase).to_be_enabled()
    shot(page, screenshots, "erase-dialog")
    erase.click()

    expect(dialog).to_be_hidden()
    expect(table_rows(page)).to_have_count(1)
    assert names(page) == ["Grace Hopper"]
    assert console.sql("SELECT id FROM users WHERE id = %s", (ada[0],)) == []
    expect(page.get_by_role("status")).to_have_text("Erased the registration of Ada Lovelace.")
    audit = page.locator("#audit-table tbody tr").filter(has_text="Erased a registration")
    expect(audit.first).to_be_visible()
    assert audit.first.locator("td").all_inner_texts()[0] == ADMIN_NAME
    assert audit.first.locator("td").all_inner_texts()[3] == "1"
    expect(page.get_by_role("heading", name="Registrations")).to_be_focused()
    shot(page, screenshots, "erased")


def test_sign_out_forgets_the_key(page: Page, console: Console, screenshots: Path) -> None:
    seed(console.mysql, console.database, [row("Ada Lovelace", utc_now())])
    sign_in(page, console)
    expect(table_rows(page)).to_have_count(1)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Staff key")).to_be_visible()
    expect(page.get_by_label("Staff key")).to_be_focused()
    assert page.evaluate("sessionStorage.length") == 0
    assert "Ada Lovelace" not in page.content()
    page.reload()
    expect(page.get_by_label("Staff key")).to_be_visible()
    expect(page.get_by_role("heading", name="Registrations")).to_be_hidden()
    shot(page, screenshots, "signed-out-by-officer")


def test_a_revoked_key_is_signed_out_with_the_message(
    page: Page, console: Console, screenshots: Path
) -> None:
    name = f"revoked-{uuid.uuid4().hex[:6]}"
    key = make_key(console.mysql, console.database, name)
    seed(console.mysql, console.database, [row("Ada Lovelace", utc_now())])
    sign_in(page, console, key)
    expect(table_rows(page)).to_have_count(1)

    console.sql("UPDATE staff_keys SET revoked_at = UTC_TIMESTAMP() WHERE name = %s", (name,))
    page.get_by_label("Search", exact=True).fill("Ada")

    expect(page.get_by_role("alert").filter(has_text="Staff key revoked")).to_be_visible()
    expect(page.get_by_label("Staff key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    assert "Ada Lovelace" not in page.content()
    shot(page, screenshots, "revoked")


def test_an_unknown_key_is_refused_with_the_message(page: Page, console: Console) -> None:
    page.goto(console.url)
    page.get_by_label("Staff key").fill("schoolapp_staff_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").filter(has_text="Invalid staff key")).to_be_visible()
    expect(page.get_by_role("heading", name="Registrations")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_keyboard_only_use(page: Page, console: Console) -> None:
    seed(console.mysql, console.database, [row("Ada Lovelace", utc_now())])
    page.goto(console.url)
    expect(page.get_by_label("Staff key")).to_be_focused()
    page.keyboard.type(console.key)
    page.keyboard.press("Enter")
    expect(table_rows(page)).to_have_count(1)

    # Focus lands in the console; Tab reaches the search field, then on to the row's Erase.
    page.keyboard.press("Tab")
    expect(page.get_by_label("Search", exact=True)).to_be_focused()
    erase = table_rows(page).get_by_role("button", name="Erase")
    for _ in range(15):
        if page.evaluate("document.activeElement.textContent === 'Erase'"):
            break
        page.keyboard.press("Tab")
    expect(erase).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Type the applicant's email to confirm")).to_be_focused()
    page.keyboard.press("Escape")
    expect(erase).to_be_focused()


def axe_violations(page: Page) -> list[str]:
    """Serious and critical axe-core violations on the page as it is."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)"""
    )
    return list(found)


@pytest.mark.parametrize("width", [1280, 375])
def test_axe_finds_nothing_serious(
    browser: Browser, console: Console, screenshots: Path, width: int
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci --prefix tests/browser` (.ci/browser-deps)")
    start = utc_now() - timedelta(hours=5)
    seed(
        console.mysql,
        console.database,
        [row(f"Applicant {i}", start + timedelta(hours=i), program="arts") for i in range(3)],
    )
    # axe's script is injected inline, which the console's CSP rightly refuses.
    context = browser.new_context(
        bypass_csp=True,
        locale="en-US",
        timezone_id=TIME_ZONE,
        viewport={"width": width, "height": 800},
    )
    try:
        page = context.new_page()
        page.goto(console.url)
        assert axe_violations(page) == []
        sign_in(page, console)
        expect(table_rows(page)).to_have_count(3)
        expect(page.locator("#by-program svg")).to_be_visible()
        assert axe_violations(page) == []
        # Nothing wider than the screen but the tables' own scrolling region.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shot(page, screenshots, f"console-{width}px")
        table_rows(page).first.get_by_role("button", name="Erase").click()
        expect(page.get_by_role("dialog")).to_be_visible()
        assert axe_violations(page) == []
        shot(page, screenshots, f"dialog-{width}px")
    finally:
        context.close()


def test_statistics_charts_show_the_numbers(
    page: Page, console: Console, screenshots: Path
) -> None:
    today = utc_now().replace(hour=12, minute=0, second=0)
    yesterday = today - timedelta(days=1)
    rows = [
        row("Ada Lovelace", yesterday, program="engineering"),
        row("Alan Turing", yesterday + timedelta(minutes=1), program="engineering"),
        row("Grace Hopper", today - timedelta(hours=11), program="computer-science"),
        row("Edsger Dijkstra", today - timedelta(hours=10), program="engineering"),
        row("Old Style", today - timedelta(hours=9), program=None),
    ]
    seed(console.mysql, console.database, rows)
    for status, count in (("pending", 2), ("sent", 3), ("failed", 1)):
        for _ in range(count):
            console.sql(
                "INSERT INTO mail_outbox (user_id, status, due_at, created_at)"
                " VALUES (%s, %s, UTC_TIMESTAMP(), UTC_TIMESTAMP())",
                (str(uuid.uuid4()), status),
            )
    sign_in(page, console)
    expect(page.locator("#by-program .bar")).not_to_have_count(0)

    def bars(chart: str) -> dict[str, int]:
        found = page.locator(f"#{chart} .bar")
        return {
            bar.get_attribute("data-label") or "": int(value.text_content() or "")
            for bar in found.all()
            for value in [bar.locator(".bar-value")]
        }

    assert bars("by-program") == {"Engineering": 3, "Computer Science": 1, "—": 1}
    day = f"{today:%b} {today.day}"
    before = f"{yesterday:%b} {yesterday.day}"
    assert bars("by-day") == {before: 2, day: 3}
    emails = {
        key: page.locator(f"#emails dd[data-email={key}]").inner_text()
        for key in ("pending", "sent", "failed")
    }
    assert emails == {"pending": "2", "sent": "3", "failed": "1"}
    shot(page, screenshots, "statistics")


def test_page_weight_of_the_first_load(page: Page, console: Console, figures: list[str]) -> None:
    sizes: dict[str, int] = {}
    page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body())))
    page.goto(console.url)
    page.wait_for_load_state("networkidle")
    files = {url.rsplit("/", 1)[-1] for url in sizes}
    modules = {"console.js", "api.js", "chart.js", "dates.js", "erase.js"}
    assert files >= {"staff", "console.css", *modules}
    total = sum(sizes.values())
    figures.append(
        f"staff console first load: {total / 1024:.1f} KB in {len(sizes)} files (uncompressed)"
    )
    assert total < PAGE_WEIGHT_BUDGET


# ---- The backend of issue 17. ----


def test_whoami_shows_the_keys_name_and_role(page: Page, console: Console) -> None:
    sign_in(page, console)
    expect(page.get_by_text(f"Signed in as {ADMIN_NAME} (admin)")).to_be_visible(timeout=3000)


def test_the_count_of_all_matches(page: Page, console: Console) -> None:
    start = utc_now() - timedelta(days=1)
    seed(
        console.mysql,
        console.database,
        [row(f"Applicant {i:02}", start + timedelta(minutes=i)) for i in range(PAGE_SIZE + 3)],
    )
    sign_in(page, console)
    expect(table_rows(page)).to_have_count(PAGE_SIZE)
    expect(page.locator("#count")).to_have_text(
        f"{PAGE_SIZE + 3} registrations match, showing 1–{PAGE_SIZE}", timeout=3000
    )


def test_search_finds_any_part_ignoring_case_and_accents(page: Page, console: Console) -> None:
    start = utc_now() - timedelta(days=1)
    seed(
        console.mysql,
        console.database,
        [
            row("José O'Brien", start, email="jose@example.com", phone="0551234567"),
            row("Grace Hopper", start + timedelta(minutes=1), phone="5559876543"),
        ],
    )
    sign_in(page, console)
    expect(table_rows(page)).to_have_count(2)
    for text in ("brien", "obrien", "JOSE", "4567"):
        page.get_by_label("Search", exact=True).fill(text)
        expect(page.locator("#count")).to_contain_text("1 registration matches", timeout=3000)
        assert names(page) == ["José O'Brien"]


def test_download_spreadsheet_reads_back(
    page: Page, console: Console, screenshots: Path, tmp_path: Path
) -> None:
    start = utc_now() - timedelta(days=1)
    rows = [
        row("José O'Brien", start, email="+1@example.com", phone="0551234567", program="arts"),
        row("-Bob", start + timedelta(minutes=1), phone="+15551234567", program="engineering"),
        row("Grace Hopper", start + timedelta(minutes=2), program="medicine"),
    ]
    seed(console.mysql, console.database, rows)
    sign_in(page, console)
    page.get_by_label("Program", exact=True).select_option(label="Arts")
    expect(table_rows(page)).to_have_count(1)
    with page.expect_download(timeout=5000) as download:
        page.get_by_role("button", name="Download spreadsheet").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".xlsx"
    shot(page, screenshots, "downloaded")

    workbook = load_workbook(saved)
    cells = [cell for sheet in workbook.worksheets for line in sheet.iter_rows() for cell in line]
    assert all(cell.data_type != "f" for cell in cells)
    values = [
        [str(cell.value) for cell in line if cell.value is not None]
        for sheet in workbook.worksheets
        for line in sheet.iter_rows()
    ]
    listed = console.api("GET", "/api/registrations", program="arts").json()["registrations"]
    assert len(listed) == 1
    jose = [line for line in values if listed[0]["email"] in line]
    assert len(jose) == 1
    assert {"José O'Brien", "+1@example.com", "0551234567", "Arts"} <= set(jose[0])
    assert not any("-Bob" in line or "Grace Hopper" in line for line in values)


def test_a_viewer_sees_no_erase_and_the_api_refuses_it(
    page: Page, console: Console, screenshots: Path
) -> None:
    name = f"viewer-{uuid.uuid4().hex[:6]}"
    created = run_cli(
        ["keys", "create", "--name", name, "--role", "viewer"],
        {**console.mysql.environment(console.database)},
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.splitlines()[0].strip()
    ada = row("Ada Lovelace", utc_now())
    seed(console.mysql, console.database, [ada])
    sign_in(page, console, key)
    expect(table_rows(page)).to_have_count(1)
    expect(page.get_by_text(f"Signed in as {name} (viewer)")).to_be_visible(timeout=3000)
    expect(page.get_by_role("button", name="Erase", exact=True)).to_have_count(0)
    expect(page.get_by_role("heading", name="Audit trail")).to_have_count(0)
    shot(page, screenshots, "viewer")
    refused = console.api("DELETE", f"/api/registrations/{ada[0]}", key=key)
    assert refused.status_code == 403
    assert refused.json() == {"error": "This staff key may not do that"}
    assert console.sql("SELECT id FROM users WHERE id = %s", (ada[0],)) == [(ada[0],)]


def test_an_expired_key_is_signed_out_with_the_message(
    page: Page, console: Console, screenshots: Path
) -> None:
    name = f"expiring-{uuid.uuid4().hex[:6]}"
    key = make_key(console.mysql, console.database, name)
    sign_in(page, console, key)
    # The loads that follow a sign-in (page, statistics, key) finish under the valid key;
    # one still in flight when it expires would sign out before the click below.
    page.wait_for_load_state("networkidle")
    console.sql(
        "UPDATE staff_keys SET expires_at = UTC_TIMESTAMP() - INTERVAL 1 MINUTE WHERE name = %s",
        (name,),
    )
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("alert").filter(has_text="Staff key expired")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    shot(page, screenshots, "expired")


def test_bounced_and_complained_emails_are_shown(page: Page, console: Console) -> None:
    sign_in(page, console)
    expect(page.locator("#emails dd[data-email=sent]")).to_be_visible()
    stats = console.api("GET", "/api/registrations/stats").json()["emails"]
    for kind in ("bounced", "complained"):
        expect(page.locator(f"#emails dd[data-email={kind}]")).to_have_text(
            str(stats[kind]), timeout=3000
        )
