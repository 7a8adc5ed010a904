"""The service in its own process and Debian's chromium, for the staff console's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from tests.support.mysql_target import MySQLTarget
from tests.support.service_process import ServiceProcess
from tests.support.staff import make_key

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The officer's time zone: west of UTC, so a local day and a UTC day differ.
TIME_ZONE = "America/New_York"
ADMIN_NAME = "officer-ada"
SCREENSHOTS = pytest.StashKey[Path]()
FIGURES = pytest.StashKey[list[str]]()


@dataclass
class Console:
    """The service serving the console, its database and an admin key for it."""

    service: ServiceProcess
    mysql: MySQLTarget
    database: str
    key: str

    @property
    def url(self) -> str:
        """The console's address."""
        return f"{self.service.base_url}/staff"

    def api(self, method: str, path: str, key: str | None = None, **params: str) -> httpx.Response:
        """The staff API called directly, as the console calls it."""
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.request(
            method, f"{self.service.base_url}{path}", params=params, headers=headers, timeout=10
        )

    def sql(self, statement: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """A statement on the service's database."""
        return self.mysql.execute(statement, args, database=self.database)


@dataclass
class PageProblems:
    """What the page reported that no console may: a CSP violation, an uncaught error."""

    messages: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        """Keep CSP violations (a 401 or 404 answer's console line is expected)."""
        if "Content Security Policy" in message.text:
            self.messages.append(message.text)

    def error(self, error: Exception) -> None:
        """Keep an uncaught exception of the page's scripts."""
        self.messages.append(f"uncaught: {error}")


def pytest_configure(config: pytest.Config) -> None:
    """Choose the screenshots' folder: $CONSOLE_SCREENSHOTS or one under pytest's temp."""
    given = os.environ.get("CONSOLE_SCREENSHOTS")
    config.stash[FIGURES] = []
    if given:
        config.stash[SCREENSHOTS] = Path(given).resolve()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where the screenshots are, and the figures the tests measured."""
    config = terminalreporter.config
    if SCREENSHOTS in config.stash:
        terminalreporter.write_line(f"staff console screenshots: {config.stash[SCREENSHOTS]}")
    for figure in config.stash[FIGURES]:
        terminalreporter.write_line(figure)


@pytest.fixture(scope="session")
def screenshots(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every state's screenshot goes to."""
    if SCREENSHOTS not in pytestconfig.stash:
        pytestconfig.stash[SCREENSHOTS] = tmp_path_factory.getbasetemp() / "screenshots"
    folder = pytestconfig.stash[SCREENSHOTS]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> list[str]:
    """Lines printed at the end of the run (measured figures)."""
    return pytestconfig.stash[FIGURES]


# Module scope, not session: the sync driver keeps an event loop running in this thread
# while it lives, and the async tests that run after tests/browser in one session need it gone.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver (the browser is Debian's, never one it downloads)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's chromium, headless."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run .ci/browser-deps")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def console_service(
    mysql: MySQLTarget, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """`python index.py` on a database of its own, migrated, with an admin key."""
    database = mysql.create_database()
    environment = {**mysql.environment(database), "MAIL_BACKEND": "off"}
    log = tmp_path_factory.mktemp("console-service") / "service.log"
    try:
        with ServiceProcess(environment, log) as service:
            # The first database use migrates the schema (staff_keys among it).
            ready = httpx.get(f"{service.base_url}/health/ready", timeout=20)
            assert ready.status_code == 200, service.log()
            yield Console(service, mysql, database, make_key(mysql, database, ADMIN_NAME))
    finally:
        mysql.drop_database(database)


@pytest.fixture
def console(console_service: Console) -> Console:
    """The service with no registration and no email stored."""
    console_service.sql("DELETE FROM mail_outbox")
    console_service.sql("DELETE FROM users")
    return console_service


@pytest.fixture
def problems() -> PageProblems:
    """The page's CSP violations and uncaught errors; none may be left at the end."""
    return PageProblems()


@pytest.fixture
def page(browser: Browser, problems: PageProblems) -> Iterator[Page]:
    """A fresh tab (its own sessionStorage) in the officer's time zone, desktop-sized."""
    context = browser.new_context(
        locale="en-US",
        timezone_id=TIME_ZONE,
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )
    context.set_default_timeout(8000)
    tab = context.new_page()
    tab.on("console", problems.console)
    tab.on("pageerror", problems.error)
    yield tab
    context.close()
    assert problems.messages == []
