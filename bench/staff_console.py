"""Benchmark the staff console's backend on 100,000 stored registrations.

One command, from the repo root, against the local MariaDB (DB_* as for the service;
loopback only)::

    .venv/bin/python -m bench.staff_console              # 100,000 rows
    .venv/bin/python -m bench.staff_console --rows 20000

It makes a throw-away database, migrates it, seeds ROWS registrations (bench/export.py's
seed), creates a viewer key and starts the service (`python index.py`). It prints:

- search: the models' own calls, timed in this process (median of REPEAT): the first
  page (25 rows, newest first) with no filter, with a substring search `q`, and the
  count (`total`) of each;
- the console: the time from "Sign in" to the first table of 25 rows in Debian's
  chromium (Playwright), and GET /api/registrations?limit=25 over HTTP;
- the .xlsx export of every row: its time, its size, and the service's peak RSS
  (VmHWM) before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.export import (
    REPO_DIR,
    drop_database,
    free_port,
    new_database,
    run_index,
    seed,
    vm_kib,
    wait_healthy,
)
from config.credentials import DirectCredentials
from config.settings import Settings
from models.db import Database
from models.registrations import Filters, count, page

REPEAT = 5
SEARCHES = ("Applicant 4242", "4567", "seeded.99")
CHROMIUM = "/usr/bin/chromium"
TARGET_RSS_MB = 100.0


async def median_ms(call: Callable[[], Awaitable[object]]) -> float:
    """The median wall time of REPEAT calls, in ms (after one warm-up)."""
    await call()
    times = []
    for _ in range(REPEAT):
        began = time.perf_counter()
        await call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def search_figures(env: dict[str, str]) -> None:
    """Time page() and count() as the list route calls them."""
    settings = Settings(db_host=env["DB_HOST"], db_port=int(env["DB_PORT"]), db_user=env["DB_USER"],
                        db_password=env["DB_PASSWORD"], db_name=env["DB_NAME"],
                        db_query_timeout=60)  # fmt: skip
    db = Database(settings, DirectCredentials(settings))
    try:
        for label, filters in [("no filter", Filters())] + [
            (f"q={q!r}", Filters(search=q)) for q in SEARCHES
        ]:
            first = await median_ms(functools.partial(page, db, filters, None, 26))
            total = await median_ms(functools.partial(count, db, filters))
            print(f"  {label:<22} first page {first:7.1f} ms   count {total:7.1f} ms")
    finally:
        await db.close()


def first_table_ms(port: int, key: str) -> float:
    """From the Sign in click to 25 rows shown, in Debian's chromium."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (dev dependency)

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--headless"])
        page_ = browser.new_page()
        page_.goto(f"http://127.0.0.1:{port}/staff")
        page_.get_by_label("Staff key").fill(key)
        began = time.perf_counter()
        page_.get_by_role("button", name="Sign in").click()
        page_.locator("#registrations tbody tr").nth(24).wait_for(timeout=60_000)
        took = (time.perf_counter() - began) * 1000
        browser.close()
    return took


def get_ms(port: int, key: str, path: str) -> tuple[float, int, int]:
    """GET `path` with the key: milliseconds, status and body size."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    began = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    answer = conn.getresponse()
    size = len(answer.read())
    return (time.perf_counter() - began) * 1000, answer.status, size


def main() -> None:
    """Seed, serve, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    options = parser.parse_args()
    name, env = new_database("bench_console")
    log = Path(tempfile.mkdtemp(prefix="bench_console_")) / "service.log"
    service: subprocess.Popen[bytes] | None = None
    try:
        run_index(["migrate"], env)
        seed(env, options.rows)
        key = run_index(["keys", "create", "--name", "bench", "--role", "viewer"], env).strip()
        print(f"{options.rows:,} registrations stored\n\nsearch (models, median of {REPEAT}):")
        asyncio.run(search_figures(env))
        port = free_port()
        with log.open("wb") as out:
            service = subprocess.Popen(
                [sys.executable, "index.py"], cwd=REPO_DIR, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **env, "PORT": str(port), "MAIL_BACKEND": "off",
                     "LOG_LEVEL": "warning"},
            )  # fmt: skip
        wait_healthy(port, service)
        list_ms, _, _ = get_ms(port, key, "/api/registrations?limit=25")
        print(f"\nconsole:\n  GET /api/registrations?limit=25 (page + total) {list_ms:7.1f} ms")
        print(
            f"  Sign in -> first table of 25 rows (chromium)   {first_table_ms(port, key):7.1f} ms"
        )
        before = vm_kib(service.pid, "VmHWM")
        took, status, size = get_ms(port, key, "/api/registrations.xlsx")
        after = vm_kib(service.pid, "VmHWM")
    finally:
        if service is not None:
            service.terminate()
            service.wait(30)
        drop_database(env, name)
    verdict = "PASS" if after / 1024 <= TARGET_RSS_MB else "MISS"
    print(f"\n.xlsx export of {options.rows:,} rows: {status}, {size / 1e6:.1f} MB in"
          f" {took / 1000:.1f} s")  # fmt: skip
    print(f"  service peak RSS (VmHWM): {before / 1024:.1f} MB before, {after / 1024:.1f} MB"
          f" after   [{verdict} <= {TARGET_RSS_MB:.0f} MB]")  # fmt: skip


if __name__ == "__main__":
    main()
