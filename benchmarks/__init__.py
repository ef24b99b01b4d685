"""Performance benchmarks of otlmc.

``python -m benchmarks`` runs the suite (:mod:`benchmarks.suite`); ``python -m benchmarks.bench_meanfield``
and ``python -m benchmarks.bench_train`` time the mean-field and MNIST-training kernels on their own.
"""
