"""Benchmark the service against a raw-ASGI ceiling; run it as ``python -m bench``.

From the repo root::

    .venv/bin/python -m bench            # full run, about 5 minutes
    .venv/bin/python -m bench --quick    # smoke run, under a minute

For each scenario (``POST /api/register`` at 8, 32 and 64 connections, ``GET /health``
at 64) and each round, it starts the service (``python index.py``) and the ceiling
(``bench/ceiling_app.py``) one after the other, each in a fresh process against a
fresh throw-away database, drives each with the same wrk load and records
throughput, latency, errors, CPU split, peak RSS, start-up-to-ready time and the
rows-versus-201s check. It prints medians, ratios service / ceiling and each target's
PASS/MISS. Exit status is non-zero only when the benchmark could not run.

bench/README.md says how to read the output and which module does what.
"""
