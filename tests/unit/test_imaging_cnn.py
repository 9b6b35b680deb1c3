"""The lesion CNN: shapes, learning, determinism, save/load."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from crlm.models.cnn import (
    ResNet18, cnn_predict, load_cnn, patient_scores, prepare_crops, save_cnn, train_cnn,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small convolutions: one thread is as fast and immune to shared-core contention."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_forward_backward_shapes():
    model = ResNet18(in_channels=3, n_classes=2, base_width=8, input_size=16)
    x = torch.randn(5, 3, 16, 16, requires_grad=True)
    out = model(x)
    assert out.shape == (5, 2)
    out.sum().backward()
    assert x.grad.shape == x.shape
    assert all(p.grad is not None for p in model.parameters())
    n_blocks = sum(type(m).__name__ == "BasicBlock" for m in model.modules())
    assert n_blocks == 8


def test_prepare_crops_windows_and_resizes():
    crops = np.array([[[[-1000, 200], [50, 1000]]]], dtype=np.int16)
    x = prepare_crops(crops, input_size=2)
    np.testing.assert_allclose(x.numpy().ravel(), [-1.0, 1.0, 0.0, 1.0])
    assert prepare_crops(np.zeros((4, 3, 64, 64)), input_size=32).shape == (4, 3, 32, 32)


def test_tiny_overfit_reaches_near_zero_loss():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    crops = rng.normal(50, 30, size=(8, 3, 16, 16)).astype(np.float32)
    y = torch.tensor([0, 1] * 4, dtype=torch.float32)
    model = ResNet18(3, base_width=8, input_size=16)
    x = prepare_crops(crops, 16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(60):
        opt.zero_grad()
        loss = loss_fn(model(x)[:, 0], y)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = float(loss_fn(model(x)[:, 0], y))
    assert final < 0.05


def _toy(n_patients=24, seed=0):
    """Crops whose centre is darker for label 1: a learnable signal."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_patients) % 2, 2)
    groups = np.repeat([f"P{i}" for i in range(n_patients)], 2)
    crops = rng.normal(55, 10, size=(2 * n_patients, 3, 16, 16))
    crops[labels == 1, :, 5:11, 5:11] -= 40
    return crops.astype(np.int16), labels, groups


def test_one_epoch_training_is_deterministic_on_cpu():
    crops, labels, groups = _toy()
    kwargs = dict(folds=3, seed=5, epochs=1, device="cpu", base_width=4, input_size=16, batch_size=16)
    a, model_a = train_cnn(crops, labels, groups, **kwargs)
    b, model_b = train_cnn(crops, labels, groups, **kwargs)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (len(crops),) and np.all((a >= 0) & (a <= 1))
    for (ka, va), (kb, vb) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    c, _ = train_cnn(crops, labels, groups, **dict(kwargs, seed=6))
    assert not np.array_equal(a, c)
    assert not torch.are_deterministic_algorithms_enabled()  # restored afterwards


def test_training_learns_a_clear_signal_and_round_trips(tmp_path):
    crops, labels, groups = _toy(60, seed=1)
    oof, model = train_cnn(crops, labels, groups, folds=2, seed=0, epochs=12, device="cpu",
                           base_width=4, input_size=16, batch_size=8, lr=5e-3, patience=12)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(labels, oof) > 0.9
    scores = patient_scores(oof, groups)
    assert len(scores) == 60 and scores.iloc[0] == pytest.approx(oof[:2].mean())
    save_cnn(model, tmp_path / "cnn.pt")
    again = load_cnn(tmp_path / "cnn.pt")
    np.testing.assert_allclose(cnn_predict(again, crops), cnn_predict(model, crops), atol=1e-6)
    assert cnn_predict(model, crops[0]).shape == (1,)
    assert "final" in model.fit_info_


def test_training_input_errors():
    crops, labels, groups = _toy(6)
    with pytest.raises(ValueError, match="single class"):
        train_cnn(crops, np.zeros(len(crops)), groups, folds=2, epochs=1)
    with pytest.raises(ValueError, match="one value per crop"):
        train_cnn(crops, labels[:-1], groups, folds=2, epochs=1)
    bad_folds = np.arange(len(crops)) % 2
    with pytest.raises(ValueError, match="more than one fold"):
        train_cnn(crops, labels, groups, folds=bad_folds, epochs=1)
