"""Compare two MLPs of your own: align B to A by any matching and print every diagnostic.

    python -m sims.compare_networks A.npz B.npz --method wm_ours --out runs/compare
    python -m sims.compare_networks --quick          # trains two tiny nets first (seconds, no download)

Networks are ``.npz`` files written by :func:`otlmc.io.save_mlp` (or by ``python -m otlmc.train``)
or PyTorch state dicts. Inputs: the MNIST test set (``--data mnist``, the default), the hermetic
784-d Gaussian mixture (``--data synthetic``) or a ``.npz`` with arrays ``X`` (N, m_0) and ``y`` (N,);
the first ``--n-match`` rows feed the data-dependent matchings, the next ``--n-eval`` rows every
measurement (:func:`otlmc.compare.compare`). Written to OUT: ``compare_networks.json`` (all numbers,
the command line and the matching's per-layer costs) and ``compare_networks.png`` (loss and error
along the path before/after alignment, LLFC per layer).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from otlmc.compare import compare, load_inputs
from otlmc.io import load_mlp, save_mlp
from otlmc.matching import MATCHING_METHODS
from otlmc.plots import plt, save
from otlmc.realnet import load_data
from otlmc.train import TrainConfig, init_mlp, train

NAME = "compare_networks"
PROG = f"python -m sims.{NAME}"


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("net_a", nargs="?", help="network A (.npz or .pt); B is aligned to it")
    p.add_argument("net_b", nargs="?", help="network B (.npz or .pt), same widths and activation as A")
    p.add_argument("--method", choices=tuple(MATCHING_METHODS), default="rebasin", help="matching that aligns B to A")
    p.add_argument("--data", default="mnist", help="'mnist', 'synthetic' or a .npz file with arrays X and y")
    p.add_argument("--n-match", type=int, default=2000, help="rows used by data-dependent matchings")
    p.add_argument("--n-eval", type=int, default=5000, help="rows (after the matching rows) for the measurements")
    p.add_argument("--t-points", type=int, default=11, help="t-grid size of the path (odd: t = 1/2 on the grid)")
    p.add_argument("--ste-steps", type=int, default=200, help="method=ste: optimisation steps")
    p.add_argument("--seed", type=int, default=0, help="seed of the randomised matchings (rebasin, ste)")
    p.add_argument("--out", default=None, help="output directory (default runs/compare, runs/quick with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="train two tiny nets on the synthetic data (width 32) into OUT and compare them on it")
    p.add_argument("--no-progress", action="store_true", help="accepted for symmetry with the other sims")
    return p.parse_args(argv)


def _check(args) -> None:
    for key in ("n_match", "n_eval", "ste_steps"):
        if getattr(args, key) < 1:
            raise ValueError(f"--{key.replace('_', '-')} == {getattr(args, key)}, must be >= 1.")
    if args.t_points < 3 or args.t_points % 2 == 0:
        raise ValueError(f"--t-points == {args.t_points}, must be odd and >= 3.")
    if not args.quick and (args.net_a is None or args.net_b is None):
        raise ValueError("give two network files NET_A NET_B (or --quick).")
    for flag, path in (("NET_A", args.net_a), ("NET_B", args.net_b)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{flag} {path!r}: no such file.")


def _quick_nets(out: Path) -> list[str]:
    Xtr, ytr, _, _ = load_data("synthetic", 2000, 1)
    paths = []
    for s in (1, 2):
        net = train(init_mlp((784, 32, 32, 10), rng=np.random.default_rng(s)), Xtr, ytr,
                    TrainConfig(lr=0.05, epochs=3), rng=np.random.default_rng(10 + s), threads=1)
        paths.append(str(save_mlp(net, out / f"quick_net_{'ab'[s - 1]}.npz")))
    return paths


def plot(result: dict):
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.3))
    ts = result["t_grid"]
    for tag, c in (("unaligned", "C7"), ("aligned", "C0")):
        r = result[tag]
        ax[0].plot(ts, r["path_loss"], "o-", color=c, ms=3, label=tag)
        ax[1].plot(ts, 100 * np.array(r["path_error"]), "o-", color=c, ms=3, label=tag)
        layers = range(1, len(r["llfc_mid"]) + 1)
        ax[2].plot(layers, r["llfc_mid"], "o-", color=c, label=rf"{tag}: $1-\cos_{{1/2}}$")
        ax[2].plot(layers, r["llfc_baseline"], "s:", color=c, label=f"{tag}: baseline $1-\\cos_{{AB}}$")
    ax[0].set(xlabel="t (weight of B)", ylabel="cross-entropy", title="loss along the path")
    ax[1].set(xlabel="t (weight of B)", ylabel="test error (%)", title="0-1 error along the path")
    ax[2].set(xlabel="layer (last = logits)", ylabel="mean over examples", yscale="log", title="LLFC at the midpoint")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(f"A vs B, widths {tuple(result['widths'])}, B aligned by '{result['method']}'; "
                 f"{result['n_eval']} evaluation inputs", fontsize=10)
    return fig


def _main(args) -> int:
    _check(args)
    out = Path(args.out or ("runs/quick" if args.quick else "runs/compare"))
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        if args.net_a is None:
            args.net_a, args.net_b = _quick_nets(out)
        if args.data == "mnist":
            args.data = "synthetic"
        args.n_match, args.n_eval, args.ste_steps = min(args.n_match, 500), min(args.n_eval, 1000), min(args.ste_steps, 10)
    net_a, net_b = load_mlp(args.net_a), load_mlp(args.net_b)
    if net_a.widths != net_b.widths:
        raise ValueError(f"NET_A and NET_B differ in widths: A {net_a.widths}, B {net_b.widths}.")
    try:
        Xm, ym, X, y = load_inputs(args.data, args.n_match, args.n_eval)
    except (OSError, ValueError) as exc:
        raise ValueError(f"--data {args.data!r} (--n-match {args.n_match}, --n-eval {args.n_eval}): {exc}") from None
    result = compare(net_a, net_b, args.method, Xm, ym, X, y, seed=args.seed, t_points=args.t_points,
                     ste_steps=args.ste_steps)
    result["argv"] = vars(args)
    (out / f"{NAME}.json").write_text(json.dumps(result, indent=1, default=lambda o: np.asarray(o).tolist()))
    save(plot(result), out / NAME)
    u, a = result["unaligned"], result["aligned"]
    print(f"wrote {out / NAME}.json/.png/.pdf")
    print(f"method {args.method}: per-layer matching cost {np.round(result['match_costs'], 5).tolist()} "
          f"(identity {np.round(result['identity_costs'], 5).tolist()})")
    for k in ("barrier", "midpoint_loss"):
        print(f"  loss {k:14s} unaligned {u['barriers'][k]:.4f}  aligned {a['barriers'][k]:.4f}")
    print(f"  error barrier       unaligned {u['error_barriers']['barrier']:.4f}  aligned {a['error_barriers']['barrier']:.4f}")
    print(f"  LLFC 1-cos at 1/2   unaligned {np.round(u['llfc_mid'], 4).tolist()}  aligned {np.round(a['llfc_mid'], 4).tolist()}")
    return 0


def main(argv=None) -> int:
    """Exit status 0, or 2 with one line naming the flag (no traceback) for bad input."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args)
    except (ValueError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
