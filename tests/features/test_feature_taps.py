"""Feature taps: one extractor per model returns outputs and named layers."""

import keras
import numpy as np
import pytest
from keras import layers

from keras_distill.src.distiller.feature_taps import build_extractor
from keras_distill.src.distiller.feature_taps import layer_paths
from keras_distill.src.losses.base import OUTPUTS

X = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")


def sequential():
    return keras.Sequential(
        [keras.Input((6,)), layers.Dense(5, name="d1"), layers.Dense(3, name="d2")],
        name="seq",
    )


def nested():
    """A Functional model whose `backbone` (a Sequential holding a
    BatchNormalization layer) is called with `training=False`."""
    backbone = keras.Sequential(
        [
            keras.Input((6,)),
            layers.Dense(5, name="d1"),
            layers.BatchNormalization(name="bn"),
            layers.Dense(4, name="d2"),
        ],
        name="backbone",
    )
    inputs = keras.Input((6,))
    features = backbone(inputs, training=False)
    return keras.Model(inputs, layers.Dense(3, name="head")(features), name="outer")


def test_sequential_outputs_and_layer_from_one_extractor():
    model = sequential()
    extractor = build_extractor(model, ["d1"])
    outputs = extractor(X)
    np.testing.assert_allclose(outputs[OUTPUTS], model(X), atol=1e-6)
    np.testing.assert_allclose(outputs["d1"], model.get_layer("d1")(X), atol=1e-6)
    assert extractor.count_params() == model.count_params()  # shared, not copied


def test_nested_paths_reach_layers_inside_sub_models():
    model = nested()
    backbone = model.get_layer("backbone")
    extractor = build_extractor(model, ["backbone/d1", "backbone", "head"])
    outputs = extractor(X, training=False)
    np.testing.assert_allclose(outputs[OUTPUTS], model(X), atol=1e-6)
    np.testing.assert_allclose(outputs["backbone/d1"], backbone.get_layer("d1")(X), atol=1e-6)
    np.testing.assert_allclose(outputs["backbone"], backbone(X), atol=1e-6)
    assert tuple(extractor.output["backbone/d1"].shape) == (None, 5)
    assert layer_paths(model) == ["backbone", "backbone/d1", "backbone/bn", "backbone/d2", "head"]


@pytest.mark.parametrize("training", [True, False])
def test_extractor_behaves_as_the_model_itself(training):
    """Same outputs and the same BatchNorm updates as `model(x, training)`,
    including Keras's handling of `backbone(x, training=False)` inside."""
    model, twin = nested(), nested()
    twin.set_weights(model.get_weights())
    x = X * 10 + 3
    expected = model(x, training=training)
    outputs = build_extractor(twin, ["backbone/bn"])(x, training=training)
    np.testing.assert_allclose(outputs[OUTPUTS], expected, atol=1e-5)
    bn = model.get_layer("backbone").get_layer("bn")
    twin_bn = twin.get_layer("backbone").get_layer("bn")
    for a, b in zip(bn.non_trainable_weights, twin_bn.non_trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_unknown_name_lists_nearest_names():
    with pytest.raises(ValueError, match=r"Received: 'backbone/d3'.*Did you mean 'backbone/d2'"):
        build_extractor(nested(), ["backbone/d3"], "teacher")
    with pytest.raises(ValueError, match=r"Received: 'dd1'.*Did you mean 'd1'"):
        build_extractor(sequential(), ["dd1"], "student")


def test_subclassed_model_error_says_what_to_do():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.dense = layers.Dense(3, name="dense")

        def call(self, x):
            return self.dense(x)

    model = Subclassed()
    model(X)
    with pytest.raises(ValueError, match=r"subclassed model.*Rebuild it as a Functional model"):
        build_extractor(model, ["dense"], "student")


def test_unbuilt_sequential_error_says_what_to_do():
    model = keras.Sequential([layers.Dense(3, name="d")])
    with pytest.raises(ValueError, match=r"not built.*keras.Input"):
        build_extractor(model, ["d"], "student")


def test_layer_called_twice_is_ambiguous():
    shared = layers.Dense(6, name="shared")
    inputs = keras.Input((6,))
    model = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(ValueError, match=r"'shared'.*called 2 times"):
        build_extractor(model, ["shared"], "teacher")
