"""Tests of otlmc.io: exact .npz round trips, PyTorch-style state dicts, and clear errors."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

from otlmc.io import load_mlp, mlp_from_state_dict, save_mlp
from otlmc.networks import MLP, forward, permute
from otlmc.train import init_mlp


def _net(seed=0, activation="relu", widths=(6, 9, 8, 3)):
    return init_mlp(widths, rng=np.random.default_rng(seed), init="torch", activation=activation)


@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
def test_npz_round_trip_is_exact(tmp_path, activation):
    net = _net(1, activation)
    path = save_mlp(net, tmp_path / "a")
    assert path == tmp_path / "a.npz"
    back = load_mlp(path)
    assert back.activation == activation and back.widths == net.widths
    for x, y in zip(net.weights + net.biases, back.weights + back.biases):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    X = np.random.default_rng(2).standard_normal((5, 6))
    assert np.array_equal(forward(net, X), forward(back, X))


def test_npz_layout_is_plain_arrays(tmp_path):
    net = _net(3)
    save_mlp(net, tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["W0", "W1", "W2", "activation", "b0", "b1", "b2"]
        assert f["W1"].shape == (8, 9) and f["b2"].shape == (3,) and str(f["activation"]) == "relu"


def test_npz_written_by_hand_without_activation(tmp_path):
    rng = np.random.default_rng(0)
    W0, b0 = rng.standard_normal((4, 3)), rng.standard_normal(4)
    W1, b1 = rng.standard_normal((2, 4)), np.zeros(2)
    np.savez(tmp_path / "h.npz", W0=W0.astype(np.float32), b0=b0, W1=W1, b1=b1)
    net = load_mlp(tmp_path / "h.npz")
    assert net.activation == "relu" and net.widths == (3, 4, 2)
    assert np.array_equal(net.weights[0], W0.astype(np.float32).astype(np.float64))
    assert load_mlp(tmp_path / "h.npz", activation="tanh").activation == "tanh"


def test_permuted_network_survives_round_trip(tmp_path):
    net = _net(4)
    rng = np.random.default_rng(5)
    pnet = permute(net, [rng.permutation(9), rng.permutation(8)])
    back = load_mlp(save_mlp(pnet, tmp_path / "p.npz"))
    X = rng.standard_normal((7, 6))
    # permuting hidden units leaves the function unchanged (docs/theory.md §6.2), and so does saving
    assert np.max(np.abs(forward(back, X) - forward(net, X))) < 1e-12


def test_state_dict_in_pytorch_layout():
    net = _net(6, widths=(5, 7, 4))
    sd = OrderedDict([("0.weight", net.weights[0]), ("0.bias", net.biases[0]),
                      ("2.weight", net.weights[1]), ("2.bias", net.biases[1])])
    back = mlp_from_state_dict(sd, activation="relu")
    assert back.widths == (5, 7, 4)
    for x, y in zip(net.weights + net.biases, back.weights + back.biases):
        assert np.array_equal(x, y)
    no_bias = mlp_from_state_dict(OrderedDict([("fc1.weight", net.weights[0]),
                                               ("fc2.weight", net.weights[1])]))
    assert not np.any(no_bias.biases[0]) and not np.any(no_bias.biases[1])


def test_state_dict_errors():
    W = np.ones((3, 2))
    with pytest.raises(ValueError, match="'0.bias' is a vector with no weight matrix before it"):
        mlp_from_state_dict(OrderedDict([("0.bias", np.ones(3)), ("0.weight", W)]))
    with pytest.raises(ValueError, match=r"'conv.weight' has shape \(3, 2, 2, 2\)"):
        mlp_from_state_dict({"conv.weight": np.ones((3, 2, 2, 2))})
    with pytest.raises(ValueError, match="holds no weight matrix"):
        mlp_from_state_dict({})
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        mlp_from_state_dict([W])
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(2, 4\): its input width 4 must equal"):
        mlp_from_state_dict({"a.weight": W, "b.weight": np.ones((2, 4))})


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no network file at"):
        load_mlp(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not a readable .npz file"):
        load_mlp(tmp_path / "junk.npz")
    np.savez(tmp_path / "extra.npz", W0=np.ones((2, 2)), b0=np.ones(2), scale=np.ones(1))
    with pytest.raises(ValueError, match="unexpected key 'scale'"):
        load_mlp(tmp_path / "extra.npz")
    np.savez(tmp_path / "gap.npz", W0=np.ones((2, 2)), b0=np.ones(2), W2=np.ones((2, 2)), b2=np.ones(2))
    with pytest.raises(ValueError, match=r"keys W0..W1 expected, found \['W0', 'W2'\]"):
        load_mlp(tmp_path / "gap.npz")
    np.savez(tmp_path / "obj.npz", W0=np.array([[1, "a"]], dtype=object), b0=np.ones(1))
    with pytest.raises(ValueError, match="is not a readable .npz file"):  # object arrays need pickle
        load_mlp(tmp_path / "obj.npz")
    np.savez(tmp_path / "act.npz", W0=np.ones((2, 2)), b0=np.ones(2), activation=np.array("gelu"))
    with pytest.raises(ValueError, match="activation='gelu' is not known"):
        load_mlp(tmp_path / "act.npz")
    np.savez(tmp_path / "nan.npz", W0=np.full((2, 2), np.nan), b0=np.ones(2))
    with pytest.raises(ValueError, match="non-finite"):
        load_mlp(tmp_path / "nan.npz")
    with pytest.raises(TypeError, match="net must be an otlmc.networks.MLP"):
        save_mlp({"W0": 1}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        load_mlp(3)


def test_pt_file_without_torch_says_what_to_do(tmp_path):
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("torch is installed; this checks the message given without it")
    (tmp_path / "m.pt").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ImportError, match="needs PyTorch.*save the state dict as .npz"):
        load_mlp(tmp_path / "m.pt")


def test_torch_state_dict_file(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is optional; the .pt reader is tested only with it")
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    torch.save(model.state_dict(), tmp_path / "m.pt")
    net = load_mlp(tmp_path / "m.pt")
    assert isinstance(net, MLP) and net.widths == (5, 7, 3)
    X = np.random.default_rng(0).standard_normal((4, 5))
    with torch.no_grad():
        ref = model(torch.as_tensor(X, dtype=torch.float32)).numpy()
    assert np.max(np.abs(forward(net, X) - ref)) < 1e-5
