"""Regenerate the README's theorem table from the committed runs' verdicts (``figures/<sim>_fits.csv``).

    python -m sims.readme            # rewrite the table in README.md
    python -m sims.readme --check    # exit 1 if README.md differs from what the committed runs say
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from otlmc.report import readme_block, replace_block

from . import SIMS

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sims.readme", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when the README is stale")
    p.add_argument("--runs", default=str(ROOT / "figures"), help="folder of the committed runs")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = replace_block(text, readme_block(args.runs, SIMS))
    if args.check:
        if new != text:
            print("README.md's theorem table differs from the committed verdicts; run `python -m sims.readme`.",
                  file=sys.stderr)
            return 1
        print("README.md's theorem table matches the committed verdicts.")
        return 0
    readme.write_text(new)
    print(f"rewrote the theorem table in {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
