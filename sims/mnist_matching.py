"""Matching methods on MLPs trained on MNIST across learning rates (Ferbach et al. §6).

Per learning rate and replicate two MLPs are trained from independent initialisations and data
orders (SGD momentum 0.9, 10 warm-up steps, cosine schedule, batch 500, LeCun-normal init). B is
aligned to A by naive WM, WM "ours" (covariance weighted), AM (centered) and Git Re-Basin WM;
the unaligned pair is the baseline. On the test set the table records the midpoint loss
``L(theta(1/2))``, the three barrier definitions of the loss and of the 0-1 error (t = weight of
B), and A's approximate dimensions ``tr(S)^2 / tr(S^2)`` of the three matrices of THEORY.md §4.
The figure overlays the midpoint losses the paper reports (read off its figure, +-10%).

Scaled down from the paper (784-512-512-512-10, 60k examples, 50 epochs, 4 pairs) to fit a
2-core CPU in minutes: hidden width 256, 20k training examples, 10 epochs, 2 pairs per rate, 5k test examples and
an 11-point t-grid (the path evaluation dominates the run time otherwise).

    python -m sims.mnist_matching            # default, a few minutes on 2 cores
    python -m sims.mnist_matching --quick    # seconds (2k examples, width 32, 4 epochs)
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, replace

import numpy as np

from otlmc.barrier import evaluate_path, t_grid
from otlmc.features import approximate_dimensions, random_init_dimension
from otlmc.matching import match
from otlmc.networks import permute
from otlmc.train import TrainConfig, init_mlp, train

from ._common import base_parser, run_sim

NAME = "mnist_matching"
METHODS = ("wm_naive", "wm_ours", "am", "rebasin")
LABELS = {"identity": "no alignment", "wm_naive": "naive WM", "wm_ours": "WM ours (cov.)", "am": "AM",
          "rebasin": "Re-Basin WM"}
COLORS = {"identity": "C7", "wm_naive": "C3", "wm_ours": "C0", "am": "C2", "rebasin": "C1", "endpoints": "k"}
#: Ferbach et al. Fig. (THEORY.md §4): midpoint test loss, mean of 4 pairs, read off +-10%
PAPER_LR = (1e-4, 3.98e-4, 1.58e-3, 6.31e-3, 2.51e-2, 1e-1)
PAPER = {"endpoints": (1.02, 0.33, 0.19, 0.084, 0.067, 0.077), "wm_naive": (2.0, 1.39, 1.26, 0.89, 0.39, 0.085),
         "wm_ours": (1.34, 0.55, 0.40, 0.25, 0.14, 0.098), "am": (1.22, 0.48, 0.32, 0.18, 0.13, 0.101)}
STREAMS = ("init_a", "init_b", "order_a", "order_b", "rebasin")


@dataclass(frozen=True)
class Config:
    data: str = "mnist"
    width: int = 256
    depth: int = 3
    lrs: tuple = tuple(float(v) for v in np.logspace(-4, -1, 6))
    replicates: int = 2
    epochs: int = 10
    n_train: int = 20000
    n_test: int = 5000
    n_match: int = 5000
    batch_size: int = 500
    t_points: int = 11

    grid_fields = ("lrs",)


QUICK = dict(width=32, depth=2, lrs=(1e-2, 1e-1), replicates=2, epochs=4, n_train=2000, n_test=1000, n_match=1000,
             t_points=5)


@functools.lru_cache(maxsize=4)
def load_data(data: str, n_train: int, n_test: int):
    """``(X_train, y_train, X_test, y_test)``: MNIST prefixes, or a 784-d Gaussian mixture for tests."""
    if data == "mnist":
        from otlmc.datasets import load_mnist

        return load_mnist(n_train=n_train, n_test=n_test)
    from otlmc.datasets import synthetic_classification

    X, y = synthetic_classification(n_train + n_test, 784, 10, rng=np.random.default_rng(12345))
    X = (X - X.min()) / (X.max() - X.min())
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def train_pair(cfg, lr: float, streams: dict, *, optimizer="sgd"):
    from sims.mnist_matching import load_data

    Xtr, ytr, _, _ = load_data(cfg.data, cfg.n_train, cfg.n_test)
    arch = (784, *([cfg.width] * cfg.depth), 10)
    tc = TrainConfig(optimizer=optimizer, lr=lr, epochs=cfg.epochs, batch_size=cfg.batch_size)
    nets = []
    for s in ("a", "b"):
        net0 = init_mlp(arch, rng=streams[f"init_{s}"])
        nets.append(train(net0, Xtr, ytr, tc, rng=streams[f"order_{s}"], threads=1))
    return nets


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """Train one pair at one learning rate; align by every method; measure on the test set."""
    from sims.mnist_matching import load_data  # by reference: workers cannot unpickle a cached __main__ function

    net_a, net_b = train_pair(cfg, params["lr"], streams)
    Xtr, _, Xte, yte = load_data(cfg.data, cfg.n_train, cfg.n_test)
    Xm = Xtr[: cfg.n_match].astype(np.float64)
    Xte = Xte.astype(np.float64)
    ts = t_grid(cfg.t_points)
    row = {}
    for method in ("identity", *METHODS):
        kw = {"X": Xm} if method in ("wm_ours", "am") else {}
        if method == "rebasin":
            kw["rng"] = streams["rebasin"]
        if method == "wm_naive":  # Ferbach et al. §6's naive WM: the registry's "weight" without biases
            res = match(net_a, net_b, "weight", biases=False)
        else:
            res = match(net_a, net_b, method, **kw)
        path = evaluate_path(net_a, permute(net_b, res.perms), Xte, yte, ts=ts, loss="ce")
        row[f"{method}_midpoint_loss"] = float(np.interp(0.5, path.ts, path.loss))
        row.update({f"{method}_{k}": v for k, v in path.barriers.items() if k != "midpoint_loss"})
        row.update({f"{method}_error_{k}": v for k, v in path.error_barriers.items()})
        if method == "identity":
            row["loss_a"], row["loss_b"] = float(path.loss[0]), float(path.loss[-1])
            row["error_a"], row["error_b"] = float(path.error[0]), float(path.error[-1])
            row["endpoint_loss"] = (row["loss_a"] + row["loss_b"]) / 2
    dims = approximate_dimensions(net_a, Xm)
    for key, vals in dims.items():
        row[f"dim_{key}"] = float(np.mean(vals))
        for l, v in enumerate(vals, start=1):
            row[f"dim_{key}_layer{l}"] = float(v)
    return row


def _by_lr(rows, key):
    lrs = sorted({r["lr"] for r in rows})
    vals = [np.array([r[key] for r in rows if r["lr"] == lr]) for lr in lrs]
    return np.array(lrs), np.array([v.mean() for v in vals]), np.array([v.std() for v in vals])


def plot(rows, cfg: Config):
    from otlmc.plots import _mpl

    plt = _mpl()
    fig, ax = plt.subplots(2, 2, figsize=(13, 9.5))
    a = ax[0, 0]
    for m in ("endpoints", "identity", *METHODS):
        key = "endpoint_loss" if m == "endpoints" else f"{m}_midpoint_loss"
        lr, mu, sd = _by_lr(rows, key)
        a.errorbar(lr, mu, yerr=sd, fmt="o-", color=COLORS[m], capsize=2, ms=4,
                   label="endpoints (mean of A, B)" if m == "endpoints" else LABELS[m])
        if m in PAPER:
            a.plot(PAPER_LR, PAPER[m], "x--", color=COLORS[m], alpha=0.6, lw=1)
    a.plot([], [], "kx--", alpha=0.6, label="paper (Ferbach et al., 512 wide, 50 epochs)")
    a.set(xscale="log", yscale="log", xlabel="peak learning rate", ylabel="test loss at the midpoint t = 1/2",
          title="midpoint loss (ours: solid, paper: dashed)")
    a.legend(fontsize=7)
    a = ax[0, 1]
    for m in ("identity", *METHODS):
        lr, mu, sd = _by_lr(rows, f"{m}_barrier")
        a.errorbar(lr, mu, yerr=sd, fmt="o-", color=COLORS[m], capsize=2, ms=4, label=LABELS[m])
    a.set(xscale="log", yscale="log", xlabel="peak learning rate",
          ylabel=r"barrier $\max_t [L(t) - (1-t)L_A - tL_B]$", title="test-loss barrier")
    a.legend(fontsize=7)
    a = ax[1, 0]
    for key, m, lab in (("dim_wm_naive", "wm_naive", r"$W^T W$ (naive WM)"),
                        ("dim_wm_ours", "wm_ours", r"$W\Sigma W^T$ (WM ours)"), ("dim_am", "am", r"$E[hh^T]$ (AM)")):
        lr, mu, sd = _by_lr(rows, key)
        a.errorbar(lr, mu, yerr=sd, fmt="o-", color=COLORS[m], capsize=2, ms=4, label=lab)
    fans = [784] + [cfg.width] * (cfg.depth - 1)
    ref = float(np.mean([random_init_dimension(cfg.width, f) for f in fans]))
    a.axhline(ref, color="C3", ls=":", label=f"$W^T W$ at random init, mean of $nd/(n+d+1)$ = {ref:.0f}")
    a.set(xscale="log", yscale="log", xlabel="peak learning rate",
          ylabel=r"approximate dimension $\mathrm{tr}(S)^2/\mathrm{tr}(S^2)$ (mean over layers)",
          title="approximate dimension of network A")
    a.legend(fontsize=7)
    a = ax[1, 1]
    for key, m in (("dim_wm_naive", "wm_naive"), ("dim_wm_ours", "wm_ours"), ("dim_am", "am")):
        x = np.array([r[key] for r in rows])
        yv = np.array([r[f"{m}_midpoint_loss"] - r["endpoint_loss"] for r in rows])
        a.scatter(x, np.maximum(yv, 1e-4), color=COLORS[m], s=18, label=LABELS[m])
    a.set(xscale="log", yscale="log", xlabel="approximate dimension of the method's matrix",
          ylabel="midpoint loss - endpoint loss", title="matching quality vs dimension (one dot per pair)")
    a.legend(fontsize=7)
    fig.suptitle(f"MNIST ({cfg.data}), MLP 784-{'-'.join([str(cfg.width)] * cfg.depth)}-10, SGD+cosine, "
                 f"{cfg.epochs} epochs on {cfg.n_train} examples; {cfg.replicates} pairs per rate (mean $\\pm$ sd); "
                 f"test set {cfg.n_test}, {cfg.t_points}-point t-grid", fontsize=10)
    fig.tight_layout()
    return fig


def parse_args(argv):
    p = base_parser(__doc__.split("\n\n")[0], "figures")
    d = Config()
    p.add_argument("--data", choices=("mnist", "synthetic"), default=d.data,
                   help="real MNIST (see `python -m otlmc.datasets`) or a 784-d Gaussian mixture (tests)")
    p.add_argument("--width", type=int, default=None, help=f"hidden width (default {d.width})")
    p.add_argument("--depth", type=int, default=None, help=f"number of hidden layers (default {d.depth})")
    p.add_argument("--lrs", type=float, nargs="+", default=None, help="peak learning rates (default logspace(-4,-1,6))")
    p.add_argument("--replicates", type=int, default=None, help=f"pairs per rate (default {d.replicates})")
    p.add_argument("--epochs", type=int, default=None, help=f"training epochs (default {d.epochs})")
    p.add_argument("--n-train", type=int, default=None, help=f"training examples (default {d.n_train})")
    p.add_argument("--n-test", type=int, default=None, help=f"test examples for the paths (default {d.n_test})")
    p.add_argument("--n-match", type=int, default=None,
                   help=f"training examples for AM, WM-ours' covariances and dimensions (default {d.n_match})")
    p.add_argument("--t-points", type=int, default=None, help=f"t-grid size (default {d.t_points})")
    return p.parse_args(argv)


def config_from_args(args) -> Config:
    cfg = replace(Config(), **QUICK) if args.quick else Config()
    over = {"data": args.data}
    for key in ("width", "depth", "lrs", "replicates", "epochs", "n_train", "n_test", "n_match", "t_points"):
        v = getattr(args, key)
        if v is not None:
            over[key] = tuple(v) if key == "lrs" else v
    cfg = replace(cfg, **over)
    for key in ("width", "depth", "replicates", "epochs", "n_train", "n_test", "n_match"):
        if getattr(cfg, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} == {getattr(cfg, key)}, must be >= 1.")
    if cfg.t_points < 3 or cfg.t_points % 2 == 0:
        raise SystemExit(f"--t-points == {cfg.t_points}, must be odd and >= 3 (t = 1/2 must be on the grid).")
    if cfg.n_match > cfg.n_train:
        raise SystemExit(f"--n-match == {cfg.n_match}, must be <= --n-train == {cfg.n_train}.")
    if min(cfg.lrs) <= 0:
        raise SystemExit(f"--lrs contains {min(cfg.lrs)}; learning rates must be > 0.")
    return cfg


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from_args(args)
    rows, out = run_sim(NAME, cfg, {"lr": list(cfg.lrs)}, cell, args, plot=plot, streams=STREAMS)
    print(f"wrote {out / NAME}.csv/.json/.png/.pdf ({len(rows)} rows)")
    print("midpoint test loss, mean over pairs:")
    print(f"{'lr':>10s} {'endpoints':>10s} " + " ".join(f"{m:>10s}" for m in ("identity", *METHODS)))
    for lr in sorted({r["lr"] for r in rows}):
        sel = [r for r in rows if r["lr"] == lr]
        vals = [np.mean([r["endpoint_loss"] for r in sel])]
        vals += [np.mean([r[f"{m}_midpoint_loss"] for r in sel]) for m in ("identity", *METHODS)]
        print(f"{lr:10.3g} " + " ".join(f"{v:10.4f}" for v in vals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
