"""The per-pair measurements of ``sims.cnn_matching`` and ``sims.cnn_llfc`` (docs/theory.md §4, §5).

Data (MNIST, a hermetic stand-in, or CIFAR-10 from the user's archive) as channels-last images, the
small architectures the sims sweep, training of one network, and flat ``{column: float}`` rows:
matching methods with their midpoint losses and barriers (BatchNorm statistics reset on data, and
REPAIR), a permutation-invariance check of every aligned network, approximate dimensions of the
weights, the cost and accuracy of the Kronecker estimates of WM-Sigma, and LLFC / commutativity per
layer. Every function is deterministic given its ``rng`` arguments.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from .._validation import check_choice, check_int
from ..backend import to_numpy
from ..barrier import barrier_values
from ..cifar import load_cifar10
from ..realnet import check_path_sizes, load_data
from ..train import TrainConfig
from .covariance import compare_estimates
from .families import resnet, vgg
from .features import approximate_dimensions, commutativity, llfc, path_network
from .matching import align
from .model import Architecture, Conv, ConvNet, Dense, ReLU, evaluate, forward, init_network, predict
from .repair import repair as repair_fn
from .specs import derive_spec
from .train import train

DATA = ("mnist", "synthetic", "cifar10")
#: side of the square images of each data source, before downsampling
IMAGE_SIZE = {"mnist": 28, "synthetic": 28, "cifar10": 32}
ARCHS = ("vgg", "vgg_bn", "resnet_ln", "resnet_bn")
#: methods of ``sims.cnn_matching``: name -> (method of :func:`otlmc.conv.matching.match`, keyword arguments)
METHODS = {"identity": ("identity", {}), "wm_naive": ("wm_naive", {}), "wm_ours": ("wm_ours", {"estimate": "exact"}),
           "wm_ours_kron": ("wm_ours", {"estimate": "kron"}), "wm_ours_channel": ("wm_ours", {"estimate": "channel"}),
           "am": ("am", {}), "rebasin": ("rebasin", {})}
SIGMA_ESTIMATES = ("exact", "kron", "channel", "nearest_kron")
SIGMA_QUANTITIES = ("flops", "bytes", "rel_fro", "perm_agreement", "cost_excess")
#: relative logit deviation a permuted network may show (float64 rounding of reordered sums is ~1e-13)
PERM_TOL = 1e-9


@functools.lru_cache(maxsize=4)
def load_images(data: str, n_train: int, n_test: int, downsample: int = 1, cifar_archive: str = ""):
    """``(X_train (n, H, W, C) float32, y_train, X_test, y_test)``, images average-pooled by ``downsample``.

    ``mnist`` / ``synthetic``: :func:`otlmc.realnet.load_data` reshaped to ``28 x 28 x 1``;
    ``cifar10``: :func:`otlmc.cifar.load_cifar10` from ``cifar_archive`` (default location when "").
    """
    check_choice("data", data, DATA)
    downsample = check_int("downsample", downsample, min_value=1)
    if data == "cifar10":
        arrays = load_cifar10(cifar_archive or None, n_train=n_train, n_test=n_test)
    else:
        Xtr, ytr, Xte, yte = load_data(data, n_train, n_test)
        arrays = (Xtr.reshape(-1, 28, 28, 1), ytr, Xte.reshape(-1, 28, 28, 1), yte)
    out = []
    for k, a in enumerate(arrays):
        if k % 2 == 0:
            N, H, W, C = a.shape
            if H % downsample or W % downsample:
                raise ValueError(f"downsample={downsample} does not divide the image size {H}x{W}.")
            a = a.reshape(N, H // downsample, downsample, W // downsample, downsample, C).mean(axis=(2, 4))
            a = np.ascontiguousarray(a, dtype=np.float32)  # (N, H', W', C)
        out.append(a)
    return tuple(out)


def image_shape(data: str, downsample: int) -> tuple[int, int, int]:
    """``(H, W, C)`` of ``data``'s images after average-pooling by ``downsample``."""
    check_choice("data", data, DATA)
    side = IMAGE_SIZE[data] // check_int("downsample", downsample, min_value=1)
    return side, side, 3 if data == "cifar10" else 1


def check_image_sims(cfg) -> None:
    """Cross-field checks shared by the CNN sims: those of :func:`otlmc.realnet.check_path_sizes`, and
    ``--downsample`` dividing the image size of ``--data``."""
    check_path_sizes(cfg)
    if IMAGE_SIZE[cfg.data] % cfg.downsample:
        raise ValueError(f"--downsample == {cfg.downsample} does not divide the {cfg.data} image size "
                         f"{IMAGE_SIZE[cfg.data]}.")


def make_arch(name: str, width_multiplier: float, input_shape, *, base_width: int = 8,
              blocks_per_stage: int = 1) -> Architecture:
    """``vgg[_bn]``: conv ``b`` - pool - conv ``2b`` - pool - dense ``4b`` - 10 (``b = base_width``);
    ``resnet_ln`` / ``resnet_bn``: :func:`otlmc.conv.resnet` with widths ``b (1, 2, 4)``; all times ``width_multiplier``."""
    check_choice("arch", name, ARCHS)
    b = check_int("base_width", base_width, min_value=1)
    if name.startswith("vgg"):
        return vgg(((b,), (2 * b,)), dense=(4 * b,), width_multiplier=width_multiplier,
                   norm="batchnorm" if name == "vgg_bn" else "none", input_shape=tuple(input_shape))
    return resnet(blocks_per_stage=blocks_per_stage, base_width=b, width_multiplier=width_multiplier,
                  norm="layernorm" if name == "resnet_ln" else "batchnorm", input_shape=tuple(input_shape))


def layer_names(arch: Architecture) -> tuple[list[str], list[str]]:
    """``(llfc layers, commutativity layers)``: the ReLU layers and ``"logits"``, and every Conv/Dense
    layer except the first (in forward order), as :func:`llfc` and :func:`commutativity` report them."""
    relus = [i.name for i in arch.leaves if isinstance(i.layer, ReLU)]
    linear = [i.name for i in arch.leaves if isinstance(i.layer, (Conv, Dense))]
    return relus + ["logits"], linear[1:]


def train_one(arch: Architecture, X, y, tc: TrainConfig, *, rng_init, rng_order) -> tuple[ConvNet, ConvNet]:
    """``(initialisation, trained network)`` (He-normal init, one BLAS thread)."""
    net0 = init_network(arch, rng=rng_init)
    return net0, train(net0, X, y, tc, rng=rng_order, threads=1)


def permutation_deviation(net: ConvNet, permuted: ConvNet, X) -> float:
    """``max |f_permuted(x) - f(x)| / max |f(x)|`` over ``X`` in float64 (0 for an exact relabelling)."""
    a = predict(net.astype(np.float64), np.asarray(X, dtype=np.float64))  # (N, classes)
    b = predict(permuted.astype(np.float64), np.asarray(X, dtype=np.float64))
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.finfo(float).tiny))


def endpoints(net_a: ConvNet, net_b: ConvNet, X_stats, X, y) -> tuple[dict, dict]:
    """Test ``{"loss", "error"}`` of both endpoints as the path sees them (BatchNorm reset on ``X_stats``);
    they do not depend on how B is permuted, so :func:`path_row` takes them once for all methods."""
    return tuple(evaluate(path_network(net_a, net_b, t, bn="reset", X_stats=X_stats), X, y) for t in (0.0, 1.0))


def path_row(net_a: ConvNet, net_b: ConvNet, X_stats, X, y, *, ts, ends, prefix: str, repair: bool) -> dict:
    """``{prefix}_midpoint_loss``, ``_barrier``, ``_error_barrier`` of ``(1 - t) A + t B`` on the grid
    ``ts`` (BatchNorm reset on ``X_stats``; ``ends`` from :func:`endpoints`) and, with ``repair``,
    ``{prefix}_repair_midpoint_loss``, ``_repair_barrier`` (:func:`otlmc.conv.repair.repair`, which
    is the identity at the endpoints up to rounding)."""
    ts = np.asarray(ts, dtype=float)
    if ts.size < 3 or ts[0] != 0.0 or ts[-1] != 1.0 or 0.5 not in ts:
        raise ValueError(f"ts must run from 0 to 1 through 1/2, got {ts!r}.")
    row = {}
    for tag in ("", "_repair") if repair else ("",):
        nets = [repair_fn(net_a, net_b, t, X_stats)[0] if tag else
                path_network(net_a, net_b, t, bn="reset", X_stats=X_stats) for t in ts[1:-1]]
        evs = [ends[0], *(evaluate(n, X, y) for n in nets), ends[1]]
        loss, err = np.array([e["loss"] for e in evs]), np.array([e["error"] for e in evs])  # (T,)
        b = barrier_values(ts, loss)
        row[f"{prefix}{tag}_midpoint_loss"] = b["midpoint_loss"]
        row[f"{prefix}{tag}_barrier"] = b["barrier"]
        if not tag:
            row[f"{prefix}_error_barrier"] = float(np.max(err - ((1 - ts) * err[0] + ts * err[-1])))
    return row


def matching_row(net_a: ConvNet, net_b: ConvNet, Xm, X, y, *, ts, methods: Sequence[str], rng,
                 repair: Sequence[str] = ()) -> tuple[dict, dict]:
    """Align B to A by every method in ``methods`` (keys of :data:`METHODS`) and measure the path.

    ``Xm`` feeds the data-dependent methods and the BatchNorm reset / REPAIR statistics; ``X, y`` the
    path. Columns per method: :func:`path_row`'s (no wall times: a row must not depend on the machine's
    load; :mod:`benchmarks.bench_conv` times the matchings); ``perm_dev`` the largest :func:`permutation_deviation` of any aligned B on ``X[:100]``; the
    endpoints ``loss_a``, ``loss_b``, ``error_a``, ``error_b``. Returns ``(row, {method: aligned B})``.
    """
    spec = derive_spec(net_a.arch)
    ends = endpoints(net_a, net_b, Xm, X, y)
    row = dict(loss_a=ends[0]["loss"], loss_b=ends[1]["loss"], error_a=ends[0]["error"], error_b=ends[1]["error"])
    aligned, dev = {}, 0.0
    for m in methods:
        check_choice("method", m, METHODS)
        method, kw = METHODS[m]
        kw = {**kw, **({"X": Xm} if method in ("wm_ours", "am") else {}), **({"rng": rng} if method == "rebasin" else {})}
        nb, _ = align(net_a, net_b, spec, method, **kw)
        dev = max(dev, permutation_deviation(net_b, nb, X[:100]))
        row.update(path_row(net_a, nb, Xm, X, y, ts=ts, ends=ends, prefix=m, repair=m in repair))
        aligned[m] = nb
    row["perm_dev"] = dev
    return row, aligned


def matching_pair(arch: Architecture, data: tuple, tc: TrainConfig, streams: Mapping, *, n_match: int, ts,
                  methods: Sequence[str], repair: Sequence[str] = (), prefix: str = "", extras: bool = True) -> dict:
    """Train A and B (streams ``{prefix}init_a/b``, ``{prefix}order_a/b``) and measure them.

    ``data = (X_train, y_train, X_test, y_test)``; the first ``n_match`` training images feed the
    matchings, the BatchNorm reset and REPAIR. The row is :func:`matching_row`'s and, with ``extras``,
    :func:`dimension_row` of A trained (``dim_*``) and at its initialisation (``dim_init_*``) and
    :func:`sigma_row`; every column gets ``prefix``.
    """
    Xtr, ytr, Xte, yte = data
    init_a, net_a = train_one(arch, Xtr, ytr, tc, rng_init=streams[f"{prefix}init_a"], rng_order=streams[f"{prefix}order_a"])
    _, net_b = train_one(arch, Xtr, ytr, tc, rng_init=streams[f"{prefix}init_b"], rng_order=streams[f"{prefix}order_b"])
    Xm = Xtr[:n_match]
    row, aligned = matching_row(net_a, net_b, Xm, Xte, yte, ts=ts, methods=methods, repair=repair,
                                rng=streams.get(f"{prefix}rebasin"))
    if extras:
        row.update({**dimension_row(net_a, Xm), **dimension_row(init_a, Xm, "dim_init"), **sigma_row(net_a, aligned["wm_ours"], Xm)})
    return {f"{prefix}{k}": v for k, v in row.items()}


def dimension_row(net: ConvNet, X, prefix: str = "dim") -> dict:
    """Means over layers of :func:`otlmc.conv.features.approximate_dimensions` (exact patch moments):
    ``{prefix}_wm_naive`` (plain ``W W^T``), ``{prefix}_wm_ours`` (``W Sigma W^T``), ``{prefix}_am``."""
    d = approximate_dimensions(net, X)
    am = [v["am"] for v in d["taps"].values() if np.isfinite(v["am"])]
    if not am:
        raise ValueError("every ReLU layer is dead on X: the AM dimension is undefined.")
    return {f"{prefix}_wm_naive": float(np.mean([v["wm_naive"] for v in d["layers"].values()])),
            f"{prefix}_wm_ours": float(np.mean([v["wm_ours"] for v in d["layers"].values()])),
            f"{prefix}_am": float(np.mean(am))}


def sigma_row(net_a: ConvNet, net_b_aligned: ConvNet, Xm, prefix: str = "sigma") -> dict:
    """WM-Sigma's patch second moment: exact vs Kronecker estimates on every conv layer of A
    (:func:`otlmc.conv.covariance.compare_estimates`, B's input channels aligned by exact WM-ours).

    Columns ``{prefix}_{estimate}_{quantity}``: ``flops`` (multiply-adds of the accumulation over the
    ``M`` patches: ``M (KC)^2`` exact, ``M K C (K + C)`` kron, ``M K C^2`` channel; deterministic, unlike
    wall times, which :mod:`benchmarks.bench_conv` measures) and ``bytes`` summed over conv layers
    (``nearest_kron`` is a yardstick built from the exact moment: no cost of its own), ``rel_fro``,
    ``perm_agreement`` and ``cost_excess`` averaged over them, and ``{prefix}_max_kc`` the largest ``K C``.
    """
    _, rec = forward(net_a, Xm, record=True)
    per = []
    for name, x in rec.inputs.items():
        layer = net_a.arch.leaf(name).layer
        if isinstance(layer, Conv) and x.shape[-1] > 1:
            Wa = np.asarray(to_numpy(net_a.params[f"{name}.W"]), dtype=np.float64)
            Wb = np.asarray(to_numpy(net_b_aligned.params[f"{name}.W"]), dtype=np.float64)
            res = compare_estimates(np.asarray(to_numpy(x), dtype=np.float64), layer, Wa, Wb)
            M, K, C = res["patches"], res["K"], res["C"]  # multiply-adds of the accumulation
            for est, flops in (("exact", M * (K * C) ** 2), ("kron", M * K * C * (K + C)), ("channel", M * K * C * C)):
                res[est]["flops"] = float(flops)
            per.append(res)
    if not per:
        raise ValueError("the network has no convolution with more than one input channel.")
    row = {}
    for est in SIGMA_ESTIMATES:
        for q in SIGMA_QUANTITIES:
            if est == "nearest_kron" and q == "flops":
                continue
            vals = [r[est][q] for r in per]
            row[f"{prefix}_{est}_{q}"] = float(np.sum(vals) if q in ("flops", "bytes") else np.mean(vals))
    row[f"{prefix}_max_kc"] = max(r["K"] * r["C"] for r in per)
    return row


def sigma_table(rows: Sequence[Mapping], *, by: Sequence[str] = ("arch", "width_multiplier"),
                prefix: str = "sigma") -> list[dict]:
    """The WM-Sigma cost/accuracy table: per setting of ``by`` and estimate, means over rows of the
    :func:`sigma_row` columns, and the mean midpoint loss of WM-ours with that estimate where the
    rows have it (``wm_ours``, ``wm_ours_kron``, ``wm_ours_channel``)."""
    out = []
    settings = list(dict.fromkeys(tuple(r[k] for k in by) for r in rows))
    mids = {"exact": "wm_ours", "kron": "wm_ours_kron", "channel": "wm_ours_channel"}
    for s in settings:
        sub = [r for r in rows if tuple(r[k] for k in by) == s]
        for est in SIGMA_ESTIMATES:
            rec = {**dict(zip(by, s)), "estimate": est, "n_pairs": len(sub),
                   "max_kc": float(np.mean([r[f"{prefix}_max_kc"] for r in sub]))}
            for q in SIGMA_QUANTITIES:
                key = f"{prefix}_{est}_{q}"
                if key in sub[0]:
                    rec[q] = float(np.mean([r[key] for r in sub]))
            m = mids.get(est)
            if m is not None and f"{m}_midpoint_loss" in sub[0]:
                rec["midpoint_loss"] = float(np.mean([r[f"{m}_midpoint_loss"] for r in sub]))
            out.append(rec)
    return out


def feature_row(net_a: ConvNet, net_b: ConvNet, X, *, X_stats, prefix: str) -> dict:
    """Zhou et al.'s LLFC and commutativity per layer (docs/theory.md §5), BatchNorm statistics of the
    endpoints and of the midpoint reset on ``X_stats``.

    ``{prefix}_llfc_layer{l}`` (mean ``1 - cos`` at alpha = 1/2), ``_coef_layer{l}``, ``_baseline_layer{l}``
    for the ReLU layers and logits ``l = 1..``; ``{prefix}_dist_com_layer{l}``, ``_dist_w_``, ``_dist_h_``
    for the Conv/Dense layers after the first, ``l = 1..`` (:func:`layer_names`).
    """
    # endpoints with their BatchNorm statistics reset too, so that they are the path's endpoints
    net_a, net_b = (path_network(net_a, net_b, t, bn="reset", X_stats=X_stats) for t in (0.0, 1.0))
    res = llfc(net_a, net_b, X, alphas=[0.5], bn="reset", X_stats=X_stats)
    row = {}
    for l, layer in enumerate(res["layers"], start=1):
        pa = layer["per_alpha"][0]
        row.update({f"{prefix}_llfc_layer{l}": pa["mean"], f"{prefix}_coef_layer{l}": pa["coef"],
                    f"{prefix}_baseline_layer{l}": layer["baseline"]})
    for l, c in enumerate(commutativity(net_a, net_b, X), start=1):
        for k in ("dist_com", "dist_w", "dist_h"):
            row[f"{prefix}_{k}_layer{l}"] = c[k]
    return row


__all__ = ["ARCHS", "DATA", "IMAGE_SIZE", "check_image_sims", "image_shape", "METHODS", "PERM_TOL", "SIGMA_ESTIMATES", "dimension_row", "endpoints",
           "feature_row", "layer_names", "load_images", "make_arch", "matching_pair", "matching_row", "path_row",
           "permutation_deviation", "sigma_row", "sigma_table", "train_one"]
