"""Worker: the same distillation on one device, under `DataParallel` and
under `ModelParallel` (8 virtual CPU devices, JAX).

Writes JSON to argv[1]: per mode, the fit losses, the student's final
weights, and the sharding specs the teacher's and student's weights had.

- "mlp", then "mlp_data_parallel": dense teacher and student;
- "causal_lm", then "causal_lm_model_parallel": tiny KerasHub Llama
  `CausalLM`s sharded by `LlamaBackbone.get_layout_map` on a (2, 4)
  ("batch", "model") mesh, trained on token ids.
"""

import os

if __name__ == "__main__":  # Not when pytest imports it to look for doctests.
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    os.environ["JAX_PLATFORMS"] = "cpu"

import contextlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_distill as kd  # noqa: E402

BATCH, EPOCHS = 16, 2
VOCABULARY, SEQUENCE = 64, 8


def _mlp(units, seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(5),
    ])


def _causal_lm(hidden, layers, seed):
    import keras_hub

    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.LlamaBackbone(
        vocabulary_size=VOCABULARY, num_layers=layers, num_query_heads=4,
        num_key_value_heads=4, hidden_dim=hidden, intermediate_dim=2 * hidden,
    )
    return keras_hub.models.LlamaCausalLM(backbone=backbone, preprocessor=None)


def _data(kind):
    rng = np.random.default_rng(0)
    if kind == "mlp":
        x = rng.normal(size=(4 * BATCH, 6)).astype("float32")
        return x, rng.integers(0, 5, size=4 * BATCH), None
    tokens = rng.integers(1, VOCABULARY, size=(4 * BATCH, SEQUENCE + 1))
    mask = np.ones((4 * BATCH, SEQUENCE), bool)
    mask[::3, -3:] = False  # Some padding.
    x = {"token_ids": np.where(mask, tokens[:, :-1], 0), "padding_mask": mask}
    return x, tokens[:, 1:], mask.astype("float32")


def _distribution(mode):
    from keras import distribution

    devices = distribution.list_devices()
    if mode.endswith("data_parallel"):
        return distribution.DataParallel(devices=devices)
    if mode.endswith("model_parallel"):
        import keras_hub

        mesh = distribution.DeviceMesh((2, 4), ("batch", "model"), devices)
        layout_map = keras_hub.models.LlamaBackbone.get_layout_map(mesh)
        return distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    return None


def _specs(model):
    return {
        variable.path: str(getattr(variable.value.sharding, "spec", "replicated"))
        for variable in model.weights
    }


def run(mode):
    kind = "mlp" if mode.startswith("mlp") else "causal_lm"
    distribution = _distribution(mode)
    with distribution.scope() if distribution is not None else contextlib.nullcontext():
        if kind == "mlp":
            teacher, student = _mlp(32, seed=1), _mlp(8, seed=2)
        else:
            teacher, student = _causal_lm(16, 2, seed=1), _causal_lm(8, 1, seed=2)
        distiller = kd.Distiller(
            teacher=teacher,
            student=student,
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            alpha=0.3,
            temperature=2.0,
        )
        distiller.compile(optimizer=keras.optimizers.SGD(0.5))
        x, y, sample_weight = _data(kind)
        history = distiller.fit(
            x, y, sample_weight=sample_weight, batch_size=BATCH, epochs=EPOCHS,
            shuffle=False, verbose=0,
        ).history
    return {
        "loss": history["loss"],
        "distillation_loss": history["distillation_loss"],
        "weights": [np.asarray(w).tolist() for w in student.get_weights()],
        "teacher_specs": _specs(teacher),
        "student_specs": _specs(student),
    }


if __name__ == "__main__":
    modes = sys.argv[2:]
    with open(sys.argv[1], "w") as handle:
        json.dump({mode: run(mode) for mode in modes}, handle)
