"""The README's `## Schedules` example runs and anneals the temperature."""

import pathlib
import re

import keras
import numpy as np

import keras_distill as kd

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def _section_code_blocks(heading):
    section = README.read_text().split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_cosine_temperature_anneal(data):
    x_train, y_train = np.concatenate([data[0]] * 8), np.concatenate([data[1]] * 8)
    teacher, student = (
        keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]) for _ in range(2)
    )
    namespace = {
        "kd": kd, "keras": keras, "teacher": teacher, "student": student,
        "x_train": x_train, "y_train": y_train, "epochs": 2, "steps_per_epoch": 2,
    }
    anneal, callbacks = _section_code_blocks("## Schedules")
    exec(anneal, namespace)
    # Logged at the last step of each epoch (steps 1 and 3 of 4): 7 * cosine + 1.
    cosine = 0.5 * (1 + np.cos(np.pi * np.array([1, 3]) / 4))
    np.testing.assert_allclose(
        namespace["history"].history["temperature"], 7 * cosine + 1, rtol=1e-6
    )
    exec(callbacks, namespace)
    distiller = kd.Distiller(teacher=teacher, student=student, temperature=3.0)
    distiller.compile(optimizer="sgd",
                      student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = distiller.fit(
        x_train, y_train, batch_size=32, epochs=2, verbose=0, callbacks=namespace["callbacks"]
    ).history
    np.testing.assert_allclose(history["temperature"], [2.4, 1.92], rtol=1e-6)
    np.testing.assert_allclose(history["alpha"], [1 / 1000, 3 / 1000], rtol=1e-5)
    np.testing.assert_allclose(history["kl_divergence_weight"], [1.0, 2.0])
