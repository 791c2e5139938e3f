"""Benchmarks: `make bench` (or `python -m bench`). Ratios against a baseline measured in
the same run, never absolute times in tests."""
