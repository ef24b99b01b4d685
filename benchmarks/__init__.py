"""Standalone benchmarks (``python -m benchmarks.bench_meanfield``)."""
