"""keras.callbacks.TensorBoard shows every distillation scalar."""

import glob
import os

import keras
import numpy as np
import tensorflow as tf

import keras_distill as kd


def _read_scalars(log_dir):
    """{tag: [value per step]} from the event files under `log_dir`."""
    scalars = {}
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor))
                scalars.setdefault(value.tag, []).append((event.step, number))
    return {tag: [v for _, v in sorted(pairs)] for tag, pairs in scalars.items()}


def test_tensorboard_shows_terms_temperature_and_alpha(tmp_path):
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    distiller = kd.Distiller(
        teacher=teacher,
        student=student,
        distillation_loss_fn=[kd.losses.KLDivergence(), "mean_squared_error"],
        distillation_loss_weights=[1.0, 0.5],
    )
    distiller.compile(
        optimizer="adam",
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.25,
        temperature=keras.optimizers.schedules.ExponentialDecay(4.0, 1, 0.5),
    )
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = (np.arange(16) % 3).astype("int32")
    history = distiller.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        validation_data=(x, y),
        callbacks=[keras.callbacks.TensorBoard(str(tmp_path))],
    ).history

    train = _read_scalars(tmp_path / "train")
    for name in (
        "loss",
        "student_loss",
        "distillation_loss",
        "kl_divergence",
        "keras_mean_squared_error",
        "temperature",
        "alpha",
    ):
        np.testing.assert_allclose(
            train[f"epoch_{name}"], history[name], rtol=1e-6, err_msg=name
        )
    # The scheduled temperature moves (steps 1 and 3) and TensorBoard shows it.
    np.testing.assert_allclose(train["epoch_temperature"], [2.0, 0.5])
    np.testing.assert_allclose(train["epoch_alpha"], [0.25, 0.25])
    validation = _read_scalars(tmp_path / "validation")
    np.testing.assert_allclose(validation["epoch_loss"], history["val_loss"], rtol=1e-6)
