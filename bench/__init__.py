"""Benchmark the service against a raw-ASGI ceiling and a FastAPI peer: ``python -m bench``.

From the repo root::

    .venv/bin/python -m bench            # full run, about 8 minutes
    .venv/bin/python -m bench --quick    # smoke run, under a minute and a half

For each scenario (``POST /api/register`` at 8, 32 and 64 connections, ``GET /health``
at 64) and each round, it starts the service (``python index.py``), the ceiling
(``bench/ceiling_app.py``) and the peer (``bench/peer_app.py``) one after the other
(who goes first rotates every round), each in a fresh process against a fresh
throw-away database, drives each with the same wrk load and records throughput,
latency, errors, CPU split, peak RSS, start-up-to-ready time and the rows-versus-201s
check. It prints medians, ratios service / ceiling and service / peer, and each
target's PASS/MISS. Exit status is non-zero only when the benchmark could not run.

bench/README.md says how to read the output and which module does what.
"""
