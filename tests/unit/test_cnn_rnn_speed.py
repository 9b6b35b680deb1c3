"""The CNN-RNN trains its recurrent head over cached embeddings: each crop goes through the
frozen self-supervised encoder once per training run, the pre-training reads no label and
runs once for both landmark tasks, and the folds fit only the head."""
from __future__ import annotations

import numpy as np
import pytest

from crlm import models
from crlm import store as st
from crlm.ingest.demo_images import write_demo_cohort
from crlm.models import cnn_rnn, pretraining

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ct_store(tmp_path_factory):
    store = st.Store(tmp_path_factory.mktemp("cnn_rnn_speed") / "ct.duckdb")
    write_demo_cohort(store, 80, 11)
    yield store
    store.close()


def test_each_crop_is_encoded_once_and_the_pre_training_once_for_both_tasks(
        ct_store, tmp_path, monkeypatch):
    monkeypatch.setattr(cnn_rnn, "_ENCODERS", {})
    monkeypatch.setattr(cnn_rnn, "EPOCHS_FAST", 3)
    pretrain_calls, encoded, heads = [], [], []
    real_pretrain, real_encoder = pretraining.pretrain_encoder, cnn_rnn.encoder_network
    real_fit_head = cnn_rnn.fit_head

    def counting_pretrain(crops, **kwargs):
        # positional crops only: no outcome or patient column reaches the pre-training
        pretrain_calls.append(np.asarray(crops).shape)
        return real_pretrain(crops, **kwargs)

    def counting_encoder(state, in_channels):
        net = real_encoder(state, in_channels)
        forward = net.forward

        def counted(x):
            encoded.append(len(x))
            return forward(x)
        net.forward = counted
        return net

    def counting_fit_head(*args, **kwargs):
        heads.append(1)
        return real_fit_head(*args, **kwargs)

    built = []
    real_init = cnn_rnn.SerialCtData.__init__

    def recording_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        built.append(len(self.x))

    monkeypatch.setattr(cnn_rnn.SerialCtData, "__init__", recording_init)
    monkeypatch.setattr(pretraining, "pretrain_encoder", counting_pretrain)
    monkeypatch.setattr(cnn_rnn, "encoder_network", counting_encoder)
    monkeypatch.setattr(cnn_rnn, "fit_head", counting_fit_head)
    tasks = ["pfs_after_restaging", "os_after_restaging"]
    report = models.train(ct_store, tasks=tasks, families=["cnn_rnn"], folds=2, fast=True,
                          progress=False, artefact_dir=tmp_path)
    assert not report.skipped_lines(), report.skipped_lines()
    assert len(pretrain_calls) == 1
    assert pretrain_calls[0][0] == len(pretraining.store_crops(ct_store))

    # per task: every crop the task may read, once (2 folds + the final fit add none)
    assert len(built) == len(tasks) and min(built) > 80
    assert sum(encoded) == sum(built) and max(encoded) <= cnn_rnn.ENCODE_BATCH
    assert len(heads) == len(tasks) * 3
    for task in tasks:
        preds = st.load_predictions(ct_store, st.CohortFilter(cohort="demo"),
                                    model_id=f"{task}.cnn_rnn")
        assert set(preds["split"]) == {"out-of-fold", "external"}
        assert np.isfinite(preds["score"]).all() and preds["score"].nunique() > 10


def test_encode_pools_each_time_point_and_leaves_missing_ones_at_zero():
    import torch

    data = object.__new__(cnn_rnn.SerialCtData)
    data.x = torch.arange(5 * 3 * 4 * 4, dtype=torch.float32).reshape(5, 3, 4, 4)
    data.slot = np.array([0, 0, 1, 2, 4])          # patient 0: both; 1: baseline; 2: baseline
    data.lengths = np.array([2, 1, 1])
    seen = []

    def encoder(x):
        seen.append(len(x))
        return x.flatten(1)[:, :2]

    z = data.encode(encoder)
    assert sum(seen) == 5 and z.shape == (3, 2, 2)
    first = data.x.flatten(1)[:, :2].numpy()
    assert np.allclose(z[0, 0], first[:2].mean(0)) and np.allclose(z[0, 1], first[2])
    assert np.allclose(z[1, 1], 0) and np.allclose(z[2, 0], first[4])
    assert data.observed().tolist() == [[True, True], [True, False], [True, False]]
    scale = cnn_rnn.Standardiser(z, data.observed(), np.array([0, 1, 2]))
    zs = scale(z, data.observed())
    assert np.allclose(zs[1, 1], 0) and np.allclose(zs[data.observed()].mean(0), 0, atol=1e-6)


def test_the_demo_build_with_images_trains_it_for_both_landmark_tasks(demo_store):
    registry = st.load_models(demo_store, cohort="demo")
    assert {"pfs_after_restaging.cnn_rnn", "os_after_restaging.cnn_rnn"} <= set(registry["model_id"])
    preds = st.load_predictions(demo_store, st.CohortFilter(cohort="demo"),
                                model_id="pfs_after_restaging.cnn_rnn")
    assert set(preds["split"]) == {"out-of-fold", "external"} and preds["score"].notna().all()
