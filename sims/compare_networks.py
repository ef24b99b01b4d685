"""Compare two MLPs of your own: align B to A by any matching and print every diagnostic.

    python -m sims.compare_networks A.npz B.npz --method wm_ours --out runs/compare
    python -m sims.compare_networks --quick          # trains two tiny nets first (seconds)

Networks are ``.npz`` files written by :func:`otlmc.io.save_mlp` (or by ``python -m otlmc.train``)
or PyTorch state dicts. Inputs: the MNIST test set (``--data mnist``, the default) or a ``.npz``
with arrays ``X`` (N, m_0) and ``y`` (N,) (``--data FILE.npz``); the first ``--n-match`` rows feed
the data-dependent matchings, the remaining ``--n-eval`` rows every measurement. Written to OUT:
``compare_networks.json`` (all numbers, the command line and the matching's per-layer costs) and
``compare_networks.png`` (loss and error along the path before/after alignment, LLFC per layer).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from otlmc.barrier import evaluate_path, t_grid
from otlmc.features import (approximate_dimensions, commutativity, lemma1, llfc, llfc_budget, stable_rank,
                            stitching_errors, weak_additivity)
from otlmc.matching import DATA_METHODS, MATCHING_METHODS, RNG_METHODS, match
from otlmc.networks import permute

NAME = "compare_networks"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("net_a", nargs="?", help="network A (.npz or .pt); B is aligned to it")
    p.add_argument("net_b", nargs="?", help="network B (.npz or .pt), same widths and activation as A")
    p.add_argument("--method", choices=tuple(MATCHING_METHODS), default="rebasin", help="matching that aligns B to A")
    p.add_argument("--data", default="mnist", help="'mnist' (test set) or a .npz file with arrays X and y")
    p.add_argument("--n-match", type=int, default=2000, help="rows used by data-dependent matchings")
    p.add_argument("--n-eval", type=int, default=5000, help="rows (after the matching rows) for the measurements")
    p.add_argument("--t-points", type=int, default=11, help="t-grid size of the path (odd: t = 1/2 on the grid)")
    p.add_argument("--ste-steps", type=int, default=200, help="method=ste: optimisation steps")
    p.add_argument("--seed", type=int, default=0, help="seed of the randomised matchings (rebasin, ste)")
    p.add_argument("--out", default=None, help="output directory (default runs/compare, runs/quick with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="train two tiny MNIST nets (width 32, 2k examples) into OUT and compare them")
    p.add_argument("--no-progress", action="store_true", help="accepted for symmetry with the other sims")
    return p.parse_args(argv)


def _inputs(data: str, n_match: int, n_eval: int):
    if data == "mnist":
        from otlmc.datasets import load_mnist

        _, _, X, y = load_mnist()
    else:
        path = Path(data)
        if not path.is_file():
            raise SystemExit(f"--data {data!r}: neither 'mnist' nor an existing .npz file.")
        with np.load(path, allow_pickle=False) as f:
            if "X" not in f.files or "y" not in f.files:
                raise SystemExit(f"--data {data}: the .npz must hold arrays 'X' and 'y', found {f.files}.")
            X, y = f["X"], f["y"]
    if len(X) < n_match + n_eval:
        raise SystemExit(f"--n-match + --n-eval == {n_match + n_eval} rows, but the data has only {len(X)}.")
    X = np.asarray(X, dtype=np.float64)
    return X[:n_match], X[n_match:n_match + n_eval], np.asarray(y[n_match:n_match + n_eval]).astype(np.int64), \
        np.asarray(y[:n_match]).astype(np.int64)


def _quick_nets(out: Path):
    from otlmc.datasets import load_mnist
    from otlmc.io import save_mlp
    from otlmc.train import TrainConfig, init_mlp, train

    Xtr, ytr, _, _ = load_mnist(n_train=2000, n_test=1)
    tc = TrainConfig(lr=0.05, epochs=3)
    paths = []
    for s in (1, 2):
        net = train(init_mlp((784, 32, 32, 10), rng=np.random.default_rng(s)), Xtr, ytr, tc,
                    rng=np.random.default_rng(10 + s), threads=1)
        paths.append(str(save_mlp(net, out / f"quick_net_{'ab'[s - 1]}.npz")))
    return paths


def compare(net_a, net_b, method, Xm, ym, X, y, *, seed=0, t_points=11, ste_steps=200) -> dict:
    """All diagnostics of the pair before and after aligning B by ``method``; JSON-ready."""
    kw = {}
    if method in DATA_METHODS:
        kw["X"] = Xm
    if method == "ste":
        kw.update(y=ym, steps=ste_steps)
    if method in RNG_METHODS:
        kw["rng"] = np.random.default_rng(seed)
    res = match(net_a, net_b, method, **kw)
    aligned = permute(net_b, res.perms)
    ts = t_grid(t_points)
    out = {"method": method, "widths": list(net_a.widths), "activation": net_a.activation,
           "match_costs": res.costs, "identity_costs": res.identity_costs, "n_eval": len(X), "n_match": len(Xm),
           "t_grid": ts.tolist()}
    for tag, nb in (("unaligned", net_b), ("aligned", aligned)):
        path = evaluate_path(net_a, nb, X, y, ts=ts, loss="ce")
        ll = llfc(net_a, nb, X, alphas=[0.5])
        out[tag] = {
            "path_loss": path.loss.tolist(), "path_error": path.error.tolist(), "barriers": path.barriers,
            "error_barriers": path.error_barriers,
            "llfc_mid": [layer["per_alpha"][0]["mean"] for layer in ll["layers"]],
            "llfc_coef": [layer["per_alpha"][0]["coef"] for layer in ll["layers"]],
            "llfc_baseline": [layer["baseline"] for layer in ll["layers"]],
            "dist_sigma": weak_additivity(net_a, nb, X), "commutativity": commutativity(net_a, nb, X),
            "budget_mid": llfc_budget(net_a, nb, X, alpha=0.5), "stitching_error": stitching_errors(net_a, nb, X, y),
            "lemma1": lemma1(net_a, nb, X, y, alphas=[0.5]),
        }
    out["approximate_dimension_a"] = approximate_dimensions(net_a, Xm)
    out["approximate_dimension_b"] = approximate_dimensions(net_b, Xm)
    out["stable_rank_a"] = [stable_rank(W) for W in net_a.weights]
    out["stable_rank_b"] = [stable_rank(W) for W in net_b.weights]
    return out


def plot(result: dict):
    from otlmc.plots import _mpl

    plt = _mpl()
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.3))
    ts = result["t_grid"]
    for tag, c in (("unaligned", "C7"), ("aligned", "C0")):
        ax[0].plot(ts, result[tag]["path_loss"], "o-", color=c, ms=3, label=tag)
        ax[1].plot(ts, 100 * np.array(result[tag]["path_error"]), "o-", color=c, ms=3, label=tag)
        n = len(result[tag]["llfc_mid"])
        ax[2].plot(range(1, n + 1), result[tag]["llfc_mid"], "o-", color=c, label=rf"{tag}: $1-\cos_{{1/2}}$")
        ax[2].plot(range(1, n + 1), result[tag]["llfc_baseline"], "s:", color=c, label=f"{tag}: baseline $1-\\cos_{{AB}}$")
    ax[0].set(xlabel="t (weight of B)", ylabel="cross-entropy", title="loss along the path")
    ax[1].set(xlabel="t (weight of B)", ylabel="test error (%)", title="0-1 error along the path")
    ax[2].set(xlabel="layer (last = logits)", ylabel="mean over examples", yscale="log", title="LLFC at the midpoint")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(f"A vs B, widths {tuple(result['widths'])}, B aligned by '{result['method']}'; "
                 f"{result['n_eval']} evaluation inputs", fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    from otlmc.io import load_mlp

    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = Path(args.out or ("runs/quick" if args.quick else "runs/compare"))
    out.mkdir(parents=True, exist_ok=True)
    for key in ("n_match", "n_eval", "ste_steps"):
        if getattr(args, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} == {getattr(args, key)}, must be >= 1.")
    if args.t_points < 3 or args.t_points % 2 == 0:
        raise SystemExit(f"--t-points == {args.t_points}, must be odd and >= 3.")
    if args.quick:
        if args.net_a is None:
            args.net_a, args.net_b = _quick_nets(out)
        args.n_match, args.n_eval = min(args.n_match, 500), min(args.n_eval, 1000)
        args.ste_steps = min(args.ste_steps, 10)
    if args.net_a is None or args.net_b is None:
        raise SystemExit("give two network files NET_A NET_B (or --quick).")
    net_a, net_b = load_mlp(args.net_a), load_mlp(args.net_b)
    if net_a.widths != net_b.widths:
        raise SystemExit(f"the networks differ in widths: A {net_a.widths}, B {net_b.widths}.")
    Xm, X, y, ym = _inputs(args.data, args.n_match, args.n_eval)
    result = compare(net_a, net_b, args.method, Xm, ym, X, y, seed=args.seed, t_points=args.t_points,
                     ste_steps=args.ste_steps)
    result["argv"] = vars(args)
    (out / f"{NAME}.json").write_text(json.dumps(result, indent=1, default=lambda o: np.asarray(o).tolist()))
    from otlmc.plots import save

    save(plot(result), out / NAME)
    u, a = result["unaligned"], result["aligned"]
    print(f"wrote {out / NAME}.json/.png/.pdf")
    print(f"method {args.method}: per-layer matching cost {np.round(result['match_costs'], 5).tolist()} "
          f"(identity {np.round(result['identity_costs'], 5).tolist()})")
    for k in ("barrier", "midpoint_loss"):
        print(f"  loss {k:14s} unaligned {u['barriers'][k]:.4f}  aligned {a['barriers'][k]:.4f}")
    print(f"  error barrier       unaligned {u['error_barriers']['barrier']:.4f}  aligned {a['error_barriers']['barrier']:.4f}")
    print(f"  LLFC 1-cos at 1/2   unaligned {np.round(u['llfc_mid'], 4).tolist()}  aligned {np.round(a['llfc_mid'], 4).tolist()}")
    print(f"  stitching error     unaligned {u['stitching_error']}  aligned {a['stitching_error']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
