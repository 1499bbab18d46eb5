"""Students with several inputs and outputs keep their names in every format."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_distill as kd


@pytest.fixture(scope="module")
def two_headed(digits):
    """Inputs `pixels` (64) and `row_means` (8); outputs `digit` (10) and `is_even` (1)."""
    x_train, y_train, x_test, y_test = digits
    keras.utils.set_random_seed(2)
    pixels = keras.Input((64,), name="pixels")
    row_means = keras.Input((8,), name="row_means")
    hidden = keras.layers.Dense(32, activation="relu")(
        keras.layers.Concatenate()([pixels, row_means])
    )
    model = keras.Model(
        [pixels, row_means],
        [
            keras.layers.Dense(10, name="digit")(hidden),
            keras.layers.Dense(1, name="is_even")(hidden),
        ],
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=[
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            keras.losses.BinaryCrossentropy(from_logits=True),
        ],
    )

    def inputs(x):
        return [x, x.reshape(-1, 8, 8).mean(axis=-1)]

    def labels(y):
        return [y, (y % 2 == 0).astype("float32")[:, None]]

    model.fit(inputs(x_train), labels(y_train), epochs=3, batch_size=64, verbose=0)
    return model, inputs(x_train), inputs(x_test), labels(y_test)


def _reference(model, x):
    return [keras.ops.convert_to_numpy(value) for value in model(x, training=False)]


def test_saved_model_has_named_inputs_and_outputs(two_headed, tmp_path):
    model, _, x_test, _ = two_headed
    path = kd.export_student(model, tmp_path / "serving", format="saved_model")
    serve = tf.saved_model.load(path).signatures["serving_default"]
    assert sorted(serve.structured_input_signature[1]) == ["pixels", "row_means"]
    outputs = serve(pixels=tf.constant(x_test[0][:5]), row_means=tf.constant(x_test[1][:5]))
    digit, is_even = _reference(model, [x_test[0][:5], x_test[1][:5]])
    np.testing.assert_allclose(outputs["digit"].numpy(), digit, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outputs["is_even"].numpy(), is_even, rtol=1e-5, atol=1e-5)


def test_tflite_float32_multi_io(two_headed, tmp_path, tflite_predict):
    model, _, x_test, _ = two_headed
    path = kd.export_student(model, tmp_path / "two_headed", format="tflite")
    assert path.endswith(".tflite")
    outputs = tflite_predict(path, pixels=x_test[0], row_means=x_test[1])
    digit, is_even = _reference(model, x_test)
    np.testing.assert_allclose(outputs["digit"], digit, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outputs["is_even"], is_even, rtol=1e-5, atol=1e-5)


def test_tflite_int8_multi_io_with_dict_calibration(two_headed, tmp_path):
    model, x_train, x_test, y_test = two_headed
    path = kd.export_student(
        model,
        tmp_path / "two_headed_int8.tflite",
        format="tflite",
        quantization="int8",
        representative_data={"pixels": x_train[0][:100], "row_means": x_train[1][:100]},
        int8_io=True,
    )
    report = kd.compare_exported(
        model, path, {"pixels": x_test[0], "row_means": x_test[1]},
        {"digit": y_test[0], "is_even": y_test[1]}, latency_examples=5,
    )
    assert report["quantization"] == "int8" and report["int8_io"]
    assert set(report["keras_accuracy"]) == {"digit", "is_even"}
    for output in ("digit", "is_even"):
        assert report["exported_accuracy"][output] >= report["keras_accuracy"][output] - 0.05
    assert "digit=" in kd.format_parity_table(report)


@pytest.mark.filterwarnings("ignore:When providing `inputs` as a dict")
def test_dict_inputs_are_named_by_key(tmp_path):
    inputs = {"b": keras.Input((2,), name="b_in"), "a": keras.Input((3,), name="a_in")}
    outputs = keras.layers.Dense(2, name="out")(
        keras.layers.Concatenate()([inputs["a"], inputs["b"]])
    )
    model = keras.Model(inputs, outputs)
    path = kd.export_student(model, tmp_path / "dict_inputs", format="saved_model")
    serve = tf.saved_model.load(path).signatures["serving_default"]
    a = np.ones((4, 3), "float32")
    b = np.full((4, 2), 2.0, "float32")
    expected = keras.ops.convert_to_numpy(model({"a": a, "b": b}))
    np.testing.assert_allclose(serve(a=a, b=b)["out"].numpy(), expected, rtol=1e-6)
