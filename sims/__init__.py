"""Runnable experiments: ``python -m sims.<name> --help``."""
