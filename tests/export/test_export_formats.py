"""Each format and quantization mode reproduces the Keras student on digits."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import keras_distill as kd


def _keras_logits(distiller, x):
    return keras.ops.convert_to_numpy(distiller.student(x, training=False))


def _accuracy(logits, y):
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def test_student_is_trained(distiller, digits):
    _, _, x_test, y_test = digits
    assert _accuracy(_keras_logits(distiller, x_test), y_test) > 0.85


def test_keras_file_reloads_the_student(distiller, digits, exported):
    x_test = digits[2]
    assert exported["keras"].endswith(".keras")
    reloaded = keras.models.load_model(exported["keras"])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(reloaded(x_test)), _keras_logits(distiller, x_test)
    )


def test_saved_model_serving_signature_with_dynamic_batch(distiller, digits, exported):
    x_test = digits[2]
    path = exported["saved_model"]
    assert os.path.basename(path) == "1"  # TF Serving layout: <base>/<version>/
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    (spec,) = serve.structured_input_signature[1].values()
    assert spec.name == "pixels" and spec.shape.as_list() == [None, 64]
    for batch in (1, 7, len(x_test)):
        outputs = serve(pixels=tf.constant(x_test[:batch]))
        assert list(outputs) == ["logits"]
        np.testing.assert_allclose(
            outputs["logits"].numpy(), _keras_logits(distiller, x_test[:batch]),
            rtol=1e-5, atol=1e-5,
        )


def test_saved_model_exports_next_version(distiller, tmp_path):
    first = kd.export_student(distiller, tmp_path / "serving", format="saved_model")
    second = kd.export_student(distiller, tmp_path / "serving", format="saved_model")
    assert (os.path.basename(first), os.path.basename(second)) == ("1", "2")
    with pytest.raises(FileExistsError, match="already exists"):
        kd.export_student(distiller, first, format="saved_model")


@pytest.mark.parametrize("name", ["tflite", "tflite_float16"])
def test_float_tflite_matches_keras(distiller, digits, exported, tflite_predict, name):
    x_test = digits[2]
    for batch in (1, len(x_test)):  # the batch dimension is dynamic
        logits = tflite_predict(exported[name], pixels=x_test[:batch])["logits"]
        tolerance = 1e-5 if name == "tflite" else 1e-2  # float16 weights
        np.testing.assert_allclose(
            logits, _keras_logits(distiller, x_test[:batch]), rtol=tolerance, atol=tolerance
        )


@pytest.mark.parametrize("name", ["tflite_dynamic", "tflite_int8", "tflite_int8_io"])
def test_quantized_tflite_keeps_accuracy(distiller, digits, exported, tflite_predict, name):
    _, _, x_test, y_test = digits
    report = kd.compare_exported(
        distiller, exported[name], x_test, y_test, latency_examples=5
    )
    assert report["keras_accuracy"] == pytest.approx(
        _accuracy(_keras_logits(distiller, x_test), y_test)
    )
    assert report["exported_accuracy"] >= report["keras_accuracy"] - 0.03
    expected_input = np.int8 if name == "tflite_int8_io" else np.float32
    (details,) = Interpreter(model_path=exported[name]).get_input_details()
    assert details["dtype"] == expected_input
    assert details["shape_signature"].tolist() == [-1, 64]


def test_quantization_shrinks_the_file(exported):
    sizes = {name: os.path.getsize(exported[name]) for name in exported if "tflite" in name}
    assert sizes["tflite_float16"] < 0.75 * sizes["tflite"]
    assert sizes["tflite_dynamic"] < sizes["tflite_float16"]
    assert sizes["tflite_int8"] < sizes["tflite_float16"]


def test_int8_cnn_student(digits, tmp_path, tflite_predict):
    x_train, y_train, x_test, y_test = digits
    keras.utils.set_random_seed(1)
    cnn = keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, name="logits"),
        ]
    )
    cnn.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    images = x_train.reshape(-1, 8, 8, 1)
    cnn.fit(images, y_train, epochs=3, batch_size=64, verbose=0)
    path = kd.export_student(
        cnn, tmp_path / "cnn", format="tflite", quantization="int8",
        representative_data=tf.data.Dataset.from_tensor_slices((images, y_train)).batch(50),
    )
    test_images = x_test.reshape(-1, 8, 8, 1)
    keras_accuracy = _accuracy(_keras_logits_of(cnn, test_images), y_test)
    tflite_accuracy = _accuracy(tflite_predict(path, image=test_images)["logits"], y_test)
    assert keras_accuracy > 0.8
    assert tflite_accuracy >= keras_accuracy - 0.03


def _keras_logits_of(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


class _SubclassedStudent(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.logits = keras.layers.Dense(3)

    def call(self, x, training=False):
        return self.logits(self.hidden(x))


def test_subclassed_student_built_by_a_call(tmp_path, tflite_predict):
    student = _SubclassedStudent(name="subclassed")
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    expected = _keras_logits_of(student, x)  # the first call builds it
    saved = kd.export_student(student, tmp_path / "serving", format="saved_model")
    serve = tf.saved_model.load(saved).signatures["serving_default"]
    np.testing.assert_allclose(serve(input_0=x)["output_0"].numpy(), expected, rtol=1e-5)
    path = kd.export_student(student, tmp_path / "subclassed", format="tflite")
    np.testing.assert_allclose(tflite_predict(path, input_0=x)["output_0"], expected, rtol=1e-5)
