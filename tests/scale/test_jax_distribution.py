"""`keras.distribution` on JAX, with 8 virtual CPU devices: `DataParallel`,
and `ModelParallel` sharding KerasHub teacher and student by the backbone's
own layout map, give the losses and weights of one device."""

import json

import numpy as np
import pytest

from tests.scale.scale_helpers import run_worker

pytest.importorskip("jax")
pytest.importorskip("keras_hub")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("jax_distribution") / "runs.json"
    modes = ["mlp", "mlp_data_parallel", "causal_lm", "causal_lm_model_parallel"]
    run_worker("jax_distribution_worker.py", out, *modes)
    return json.loads(out.read_text())


def _assert_same_training(got, expected):
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-5)
    np.testing.assert_allclose(  # Sums over shards add in another order.
        got["distillation_loss"], expected["distillation_loss"], rtol=1e-5, atol=1e-7
    )
    assert len(got["weights"]) == len(expected["weights"])
    for a, b in zip(got["weights"], expected["weights"]):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_data_parallel_trains_as_one_device(runs):
    _assert_same_training(runs["mlp_data_parallel"], runs["mlp"])
    specs = {**runs["mlp_data_parallel"]["teacher_specs"],
             **runs["mlp_data_parallel"]["student_specs"]}
    assert specs and all("'" not in spec for spec in specs.values())  # Replicated.


def test_model_parallel_shards_teacher_and_student_and_trains_as_one_device(runs):
    run = runs["causal_lm_model_parallel"]
    _assert_same_training(run, runs["causal_lm"])
    for specs in (run["teacher_specs"], run["student_specs"]):
        assert "'model'" in specs["token_embedding/embeddings"]
        assert "'model'" in specs["transformer_layer_0/self_attention/query/kernel"]
    assert all("'" not in spec for spec in runs["causal_lm"]["teacher_specs"].values())
