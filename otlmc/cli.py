"""Command lines generated from a sim's declaration: one flag per Config field, plus the run flags.

Every Config field ``some_name`` becomes ``--some-name`` with its one help text and its default
printed once; tuple fields take several values. Values are checked against the declaration
(:func:`otlmc.declare.validate`) and a bad one ends the program with one line naming the flag,
the value and what is allowed — never a traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from .declare import Sim, element_type, fields, quick_config, validate
from .sweep import BACKENDS


#: the largest root seed: tables store it as a signed 64-bit integer (Parquet, numpy)
MAX_SEED = 2**63 - 1


class UsageError(SystemExit):
    """A bad command line or input: printed as one line, exit status 2."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message


def _fmt_default(v) -> str:
    return " ".join(map(str, v)) if isinstance(v, tuple) else str(v)


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true/false")


def _scalar_type(kind):
    return {int: int, float: float, str: str, bool: _bool}[kind]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's own behaviour, without the usage dump)
        raise UsageError(f"python -m sims.{self.prog_name}: {message}")


def build_parser(sim: Sim) -> argparse.ArgumentParser:
    p = _Parser(prog=f"python -m sims.{sim.name}", description=sim.description,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.prog_name = sim.name
    g = p.add_argument_group(f"{sim.name} settings (default, and the --quick value where it differs)")
    quick = quick_config(sim.config)
    for f in fields(sim.config):
        flag = "--" + f.name.replace("_", "-")
        m, kind = f.metadata, element_type(f)
        allowed = f"; one of {', '.join(map(str, m['choices']))}" if m["choices"] else ""
        q = getattr(quick, f.name)
        qtxt = f"; --quick {_fmt_default(q)}" if q != f.default else ""
        help_ = f"{m['help']} (default {_fmt_default(f.default)}{qtxt}{allowed})"
        kw = dict(dest=f.name, default=None, type=_scalar_type(kind), help=help_.replace("%", "%%"),
                  metavar=f.name.upper())
        if isinstance(f.default, tuple):
            kw["nargs"] = "+"
        g.add_argument(flag, **kw)
    r = p.add_argument_group("running")
    r.add_argument("--quick", action="store_true", help="the small grid above (seconds; what the tests run)")
    r.add_argument("--out", default=None, help=f"output folder (default {sim.default_out}/{sim.name}; "
                   "`--out figures` regenerates the committed run)")
    r.add_argument("--seed", type=int, default=0, help="root seed (>= 0); each cell's seed derives from it "
                   "and the cell's identity, so tables do not depend on --n-jobs, --backend or order (default 0)")
    r.add_argument("--n-jobs", type=int, default=1, help="parallel workers; -1 = all cores (default 1)")
    r.add_argument("--backend", choices=BACKENDS, default="loky",
                   help="loky = local processes; dask = a dask.distributed cluster (default loky)")
    r.add_argument("--scheduler-address", default=None, help="address of a running dask scheduler (--backend dask)")
    r.add_argument("--threads-per-worker", type=int, default=1,
                   help="BLAS/numba threads per worker; keep workers x threads <= cores (default 1)")
    r.add_argument("--fresh", action="store_true", help="recompute cells already finished in OUT/.cells")
    r.add_argument("--retry-failed", action="store_true", help="recompute cells recorded as failed")
    r.add_argument("--dry-run", action="store_true",
                   help="print the grid, finished cells and a time estimate from pilot cells; run nothing")
    r.add_argument("--plot-only", metavar="RUN_DIR", default=None,
                   help="judge RUN_DIR's stored table again with the current claims and redraw its figure "
                        "(no cell is recomputed)")
    r.add_argument("--no-plot", action="store_true", help="write tables and verdicts but no figure")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.add_argument_group("adaptive replication")
    a.add_argument("--adaptive-metric", default=None, metavar="COLUMN",
                   help="add replicates at each grid point until the 95%% CI half-width of this column's "
                        "mean is at most --target-rel-ci x |mean|")
    a.add_argument("--target-rel-ci", type=float, default=0.05, help="target relative CI half-width (default 0.05)")
    a.add_argument("--max-replicates", type=int, default=64, help="cap on replicates per grid point (default 64)")
    return p


def config_from_args(sim: Sim, args):
    """The Config of the command line: defaults (or ``--quick`` values), then every given flag."""
    base = quick_config(sim.config) if args.quick else sim.config()
    over = {}
    for f in fields(sim.config):
        v = getattr(args, f.name)
        if v is not None:
            over[f.name] = tuple(v) if isinstance(f.default, tuple) else v
    try:
        cfg = dataclasses.replace(base, **over)
        validate(cfg)
        if sim.check is not None:
            sim.check(cfg)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"python -m sims.{sim.name}: {exc}") from None
    return cfg


def check_run_args(sim: Sim, args, cfg) -> None:
    """Refuse impossible run flags with one line instead of a traceback."""
    bad = None
    if not 0 <= args.seed <= MAX_SEED:
        bad = f"--seed == {args.seed}, must be an integer in 0 .. {MAX_SEED} (2**63 - 1)."
    elif args.n_jobs == 0 or args.n_jobs < -1:
        bad = f"--n-jobs == {args.n_jobs}, must be >= 1 or -1 (all cores)."
    elif args.threads_per_worker < 1:
        bad = f"--threads-per-worker == {args.threads_per_worker}, must be >= 1."
    elif args.scheduler_address and args.backend != "dask":
        bad = "--scheduler-address needs --backend dask."
    elif args.adaptive_metric and not args.target_rel_ci > 0:
        bad = f"--target-rel-ci == {args.target_rel_ci}, must be > 0."
    elif args.adaptive_metric and args.max_replicates < getattr(cfg, "replicates", 1):
        bad = f"--max-replicates == {args.max_replicates}, must be >= --replicates ({cfg.replicates})."
    if bad:
        raise UsageError(f"python -m sims.{sim.name}: {bad}")


def exit_on_usage_error(fn):
    """Run ``fn()``; a :class:`UsageError` prints its one line to stderr and returns status 2."""
    try:
        return fn()
    except UsageError as exc:
        print(exc.message, file=sys.stderr)
        return 2
