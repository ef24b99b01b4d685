"""Every code reference in the project's prose names something that exists.

``docs/theory.md`` and the README point at the implementation with backticked dotted names
(``theory.rates.wasserstein_rate``, relative to ``otlmc``; ``sims.llfc``; ``otlmc.papers.ROWS``).
A module moved without its references updated left 49 of them dangling once; this test resolves
each one by import.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REF = re.compile(r"`([a-z_]+(?:\.[a-z_]+)*\.[a-zA-Z_][a-zA-Z0-9_]*)`")
FOREIGN = ("numpy.", "np.", "scipy.", "ot.", "nn.", "torch.", "cupy.", "lap.", "pytest.", "tests.")
FILE_SUFFIXES = (".py", ".md", ".csv", ".json", ".png", ".pdf", ".toml", ".parquet", ".ipynb", ".npz", ".gz")


def _resolves(name: str) -> bool:
    candidates = [name] if name.startswith(("otlmc.", "sims.", "benchmarks.")) else [name, f"otlmc.{name}"]
    for full in candidates:
        parts = full.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                for p in parts[i:]:
                    obj = getattr(obj, p)
            except AttributeError:
                break
            return True
    return False


def _references(path: Path) -> list[str]:
    refs = sorted(set(REF.findall(path.read_text())))
    return [r for r in refs if not r.startswith(FOREIGN) and not r.endswith(FILE_SUFFIXES)]


@pytest.mark.parametrize("doc", ["docs/theory.md", "README.md"])
def test_every_dotted_reference_resolves(doc):
    refs = _references(ROOT / doc)
    assert len(refs) > 10, "the pattern found almost nothing: the test would pass vacuously"
    dangling = [r for r in refs if not _resolves(r)]
    assert not dangling, f"{doc} names {len(dangling)} things that do not exist: {dangling}"


def test_a_dangling_reference_is_caught():
    assert _resolves("theory.rates.wasserstein_rate") and _resolves("sims.llfc.PAPER_STITCH")
    assert not _resolves("recursion.lemma41_step") and not _resolves("theory.rates.no_such_function")
