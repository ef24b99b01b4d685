"""Where a result came from: package versions, git state, host. Recorded beside every table."""
from __future__ import annotations

import importlib.metadata as md
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from ._version import __version__

#: packages whose versions are recorded with every run
PACKAGES = ("otlmc", "numpy", "scipy", "pot", "numba", "joblib", "matplotlib", "threadpoolctl",
            "dask", "distributed", "pyarrow", "cupy-cuda12x")


def otlmc_version() -> str:
    return __version__


def versions() -> dict:
    """Python and the installed version of each package in :data:`PACKAGES` (None when absent)."""
    out = {"python": sys.version.split()[0]}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def git_revision(root: str | os.PathLike | None = None) -> dict:
    """``{"revision": sha or None, "dirty": bool or None}`` of the checkout holding ``root``.

    Only tracked files count as dirty: a run's own outputs (ignored or untracked) never make the
    next run's provenance dirty.
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        rev, dirty = None, None
    return {"revision": rev, "dirty": dirty if rev else None}


def environment() -> dict:
    """Host facts recorded with a run."""
    return {"host": socket.gethostname(), "platform": platform.platform(), "cpu_count": os.cpu_count()}
