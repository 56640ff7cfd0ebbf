"""Benchmarks for Berth; see bench/README.md. Not tests: they print figures."""
