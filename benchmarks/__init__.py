"""Performance suite of otlmc; run it with ``python -m benchmarks`` (see :mod:`benchmarks.suite`)."""
