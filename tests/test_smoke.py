import keras
import numpy as np

import keras_distill as kd


def test_fit_runs_and_logs():
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = np.arange(32) % 3
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer="sgd", student_loss_fn="sparse_categorical_crossentropy")
    history = distiller.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
