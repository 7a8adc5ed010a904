"""The one failure the benchmark reports as its own."""


class BenchError(Exception):
    """The benchmark could not run (as opposed to a target being missed)."""
