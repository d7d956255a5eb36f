"""Benchmarks of vampjax, each run as `python -m benchmarks.<name>` from the repository root."""
