"""Benchmark suites; each `run(ctx)` returns a list of Figure or Skipped."""
