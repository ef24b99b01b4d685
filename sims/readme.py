"""Regenerate the README's theorem and paper tables from the committed runs (``figures/``).

The theorem table quotes every sim's verdicts (``figures/<sim>_fits.csv``); the paper table compares
every registry row (``otlmc.papers.ROWS``) with the full-size ``sims.papers`` runs committed in
``figures/`` and ``figures/paper_rows/<experiment>/``.

    python -m sims.readme            # rewrite the table in README.md
    python -m sims.readme --check    # exit 1 if README.md differs from what the committed runs say
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from otlmc.paper_report import PAPER_END, PAPER_START, paper_block
from otlmc.report import readme_block, replace_block
from otlmc.runner import load_run

from . import SIMS, papers

ROOT = Path(__file__).resolve().parent.parent


def paper_runs(runs: Path) -> list[tuple]:
    """``(location, meta, rows)`` of every committed ``sims.papers`` run under ``runs``."""
    out = []
    for d in [runs, *sorted(p for p in (runs / "paper_rows").glob("*") if p.is_dir())]:
        if (d / "papers.json").is_file():
            rows, meta, _ = load_run(papers.SIM, d)
            loc = d.relative_to(runs.parent) if d.is_relative_to(runs.parent) else d
            out.append((loc.as_posix(), meta, rows))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sims.readme", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when the README is stale")
    p.add_argument("--runs", default=str(ROOT / "figures"), help="folder of the committed runs")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = replace_block(text, readme_block(args.runs, SIMS))
    new = replace_block(new, paper_block(paper_runs(Path(args.runs))), PAPER_START, PAPER_END)
    if args.check:
        if new != text:
            print("README.md's theorem or paper table differs from the committed runs; run `python -m sims.readme`.",
                  file=sys.stderr)
            return 1
        print("README.md's theorem and paper tables match the committed runs.")
        return 0
    readme.write_text(new)
    print(f"rewrote the theorem and paper tables in {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
