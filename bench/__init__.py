"""Benchmarks against a bare Temporal workflow of the same shape (see docs/performance.md)."""
