"""Shared fixtures: a small distilled student on sklearn digits, exported once per mode."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

import keras_distill as kd

# (format, quantization, int8_io) of every export the tests check.
EXPORTS = {
    "keras": ("keras", None, False),
    "saved_model": ("saved_model", None, False),
    "tflite": ("tflite", None, False),
    "tflite_float16": ("tflite", "float16", False),
    "tflite_dynamic": ("tflite", "dynamic", False),
    "tflite_int8": ("tflite", "int8", False),
    "tflite_int8_io": ("tflite", "int8", True),
}


@pytest.fixture(scope="session")
def digits():
    """sklearn digits (8x8, 10 classes) scaled to [0, 1]: train and test splits."""
    data = load_digits()
    x = (data.data / 16.0).astype("float32")
    y = data.target.astype("int64")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def _classifier(hidden, name, output_name="logits"):
    return keras.Sequential(
        [
            keras.Input((64,), name="pixels"),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(10, name=output_name),
        ],
        name=name,
    )


@pytest.fixture(scope="session")
def distiller(digits):
    """A teacher MLP (64-96-10) distilled into a student MLP (64-32-10), trained briefly."""
    x_train, y_train, _, _ = digits
    keras.utils.set_random_seed(0)
    teacher = _classifier(96, "teacher", output_name="teacher_logits")
    teacher.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    teacher.fit(x_train, y_train, epochs=4, batch_size=64, verbose=0)
    distiller = kd.Distiller(teacher=teacher, student=_classifier(32, "student"))
    distiller.compile(
        optimizer=keras.optimizers.Adam(0.01),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.5,
        temperature=2.0,
    )
    distiller.fit(x_train, y_train, epochs=4, batch_size=64, verbose=0)
    return distiller


@pytest.fixture(scope="session")
def exported(distiller, digits, tmp_path_factory):
    """`{export name: path}` for every entry of `EXPORTS`, converted once per session."""
    x_train = digits[0]
    directory = tmp_path_factory.mktemp("exported")
    paths = {}
    for name, (export_format, quantization, int8_io) in EXPORTS.items():
        paths[name] = kd.export_student(
            distiller,
            directory / name,
            format=export_format,
            quantization=quantization,
            representative_data=x_train[:200] if quantization == "int8" else None,
            int8_io=int8_io,
        )
    return paths


@pytest.fixture(scope="session")
def tflite_predict():
    """Runs a `.tflite` file through the LiteRT signature runner (no keras_distill code)."""
    from ai_edge_litert.interpreter import Interpreter

    def predict(path, **inputs):
        runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        return runner(**inputs)

    return predict
