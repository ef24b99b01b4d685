"""One page (Markdown + HTML) over finished runs: every claim's verdict first, then figures and provenance.

    python -m sims.report figures                        # the committed runs
    python -m sims.report runs/a runs/b --out reports/   # several run folders on one page
    python -m sims.report figures --explore              # add fits of every metric (no theory, no verdict)

The verdicts are read from each run's ``<sim>_fits.csv``, written by the run itself from its declared
claims: the page quotes the same numbers as the figure legends and the README.
"""
from __future__ import annotations

import argparse
import sys

from otlmc.report import build


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sims.report", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="folders holding <sim>.csv + <sim>.json")
    p.add_argument("--out", default=None, help="where report.md/.html go (default: the first RUN_DIR)")
    p.add_argument("--explore", action="store_true", help="also fit every positive metric against the size axis")
    p.add_argument("--seed", type=int, default=0, help="seed of the exploratory bootstraps (default 0)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        md, page = build(args.run_dirs, args.out or args.run_dirs[0], explore=args.explore, seed=args.seed)
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"python -m sims.report: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {md} and {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
