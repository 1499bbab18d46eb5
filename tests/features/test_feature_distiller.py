"""Feature terms in the Distiller: one pass per model, adapters, saving."""

import keras
import numpy as np
import pytest
from keras import layers

import keras_distill as kd
from keras_distill.src.losses.base import OUTPUTS

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 6, 6, 2)).astype("float32")
Y = np.arange(24) % 3


@keras.saving.register_keras_serializable(package="keras_distill_tests")
class CallCounter(layers.Layer):
    """Identity that counts how many times it really runs (graph or eager)."""

    def build(self, input_shape):
        self.calls = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="calls"
        )

    def call(self, inputs):
        self.calls.assign_add(1.0)
        return inputs


def conv_net(widths, name, counter=False, batch_norm=False):
    """Conv layers conv1..convN (conv1 at 6x6, the rest at 3x3), then logits."""
    inputs = keras.Input((6, 6, 2))
    x = inputs
    for index, width in enumerate(widths):
        x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{index + 1}")(x)
        if index == 0:
            if batch_norm:
                x = layers.BatchNormalization(name="bn")(x)
            x = layers.MaxPooling2D(name="pool")(x)
    if counter:
        x = CallCounter(name="counter")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(4, name="embedding")(x)
    return keras.Model(inputs, layers.Dense(3, name="logits")(x), name=name)


def make_distiller(terms, weights=None, teacher=None, student=None, **compile_kwargs):
    teacher = teacher or conv_net([4, 8, 12], "teacher", counter=True, batch_norm=True)
    student = student or conv_net([3, 5], "student", counter=True, batch_norm=True)
    distiller = kd.Distiller(
        teacher=teacher,
        student=student,
        distillation_loss_fn=terms,
        distillation_loss_weights=weights,
    )
    distiller.compile(
        optimizer=keras.optimizers.SGD(0.05),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        **compile_kwargs,
    )
    return distiller


def hint_and_kl():
    return [kd.losses.KLDivergence(), kd.losses.Hint(teacher_layer="conv3", student_layer="conv2")]


def counts(distiller):
    return [
        float(model.get_layer("counter").calls.numpy())
        for model in (distiller.teacher, distiller.student)
    ]


def reset_counts(distiller):
    for model in (distiller.teacher, distiller.student):
        model.get_layer("counter").calls.assign(0.0)


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_one_teacher_pass_and_one_student_pass_per_step(run_eagerly):
    distiller = make_distiller(hint_and_kl(), [1.0, 0.5], run_eagerly=run_eagerly)
    reset_counts(distiller)
    history = distiller.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    assert counts(distiller) == [3.0, 3.0]  # 3 steps: teacher 3 times, student 3 times
    assert {"kl_divergence", "hint", "distillation_loss"} <= set(history.history)
    distiller.evaluate(X, Y, batch_size=8, verbose=0)
    assert counts(distiller) == [3.0, 6.0]  # evaluate: the student alone


def test_evaluate_is_inference_and_training_keeps_teacher_statistics():
    distiller = make_distiller(hint_and_kl())
    teacher_bn = distiller.teacher.get_layer("bn")
    student_bn = distiller.student.get_layer("bn")
    teacher_before = [w.numpy().copy() for w in teacher_bn.non_trainable_weights]
    distiller.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    student_trained = [w.numpy().copy() for w in student_bn.non_trainable_weights]
    assert not np.allclose(student_trained[0], 0.0)  # the student's BN did train
    distiller.evaluate(X * 5 + 1, Y, batch_size=8, verbose=0)
    for before, weight in zip(teacher_before, teacher_bn.non_trainable_weights):
        np.testing.assert_array_equal(before, weight.numpy())
    for before, weight in zip(student_trained, student_bn.non_trainable_weights):
        np.testing.assert_array_equal(before, weight.numpy())


def test_adapters_have_the_right_shapes():
    terms = [
        kd.losses.Hint("embedding", "embedding", name="same"),  # (4,) vs (4,): none
        kd.losses.Hint("embedding", "embedding", adapter="always", name="forced"),
        kd.losses.Hint("gap", "gap", name="vector"),  # 12 -> 5 channels: Dense
        kd.losses.Hint("conv3", "conv2", name="maps"),  # 3x3x12 vs 3x3x5: 1x1 conv
        kd.losses.Hint("conv3", "conv1", name="resized"),  # 3x3x12 vs 6x6x3: resize
        kd.losses.AttentionTransfer("conv2", "conv2"),  # width-free: none
        kd.losses.SimilarityPreserving("gap", "gap"),
    ]
    distiller = make_distiller(terms)
    adapters = distiller.adapters
    assert list(adapters) == ["forced", "vector", "maps", "resized"]
    kernel_shapes = {name: tuple(a.projection.kernel.shape) for name, a in adapters.items()}
    assert kernel_shapes == {
        "forced": (4, 4),
        "vector": (5, 12),
        "maps": (1, 1, 5, 12),
        "resized": (1, 1, 3, 12),
    }
    resized = adapters["resized"](np.ones((2, 6, 6, 3), "float32"))
    assert tuple(resized.shape) == (2, 3, 3, 12)
    adapter_ids = {id(w) for a in adapters.values() for w in a.trainable_weights}
    assert adapter_ids <= {id(w) for w in distiller.trainable_weights}
    assert len(distiller.trainable_weights) == len(distiller.student.trainable_weights) + 8
    before = adapters["maps"].projection.kernel.numpy().copy()
    distiller.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    assert not np.allclose(before, adapters["maps"].projection.kernel.numpy())  # trained


def test_student_file_has_only_the_students_own_weights(tmp_path):
    distiller = make_distiller(hint_and_kl())
    distiller.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    student = distiller.student
    student.save(tmp_path / "student.keras")
    loaded = keras.models.load_model(tmp_path / "student.keras")
    assert len(loaded.weights) == len(student.weights)
    assert loaded.count_params() == student.count_params()
    assert len(distiller.adapters["hint"].weights) == 2  # ... which exist, elsewhere
    np.testing.assert_allclose(loaded.predict(X, verbose=0), student.predict(X, verbose=0))


def test_distiller_with_adapters_round_trips_through_keras_file(tmp_path):
    distiller = make_distiller(hint_and_kl(), [1.0, 0.5])
    distiller.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    distiller.save(tmp_path / "distiller.keras")
    loaded = keras.models.load_model(tmp_path / "distiller.keras")
    original, restored = distiller.adapters["hint"], loaded.adapters["hint"]
    for a, b in zip(original.weights, restored.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(loaded.predict(X, verbose=0), distiller.predict(X, verbose=0))
    assert [t.get_config() for t in loaded.distillation_loss_fn] == [
        t.get_config() for t in distiller.distillation_loss_fn
    ]
    history = loaded.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["hint"][0])


def test_compile_again_keeps_trained_adapters():
    distiller = make_distiller(hint_and_kl())
    distiller.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    adapter = distiller.adapters["hint"]
    kernel = adapter.projection.kernel.numpy().copy()
    distiller.compile(optimizer="sgd", distillation_loss_fn=hint_and_kl())
    assert distiller.adapters["hint"] is adapter
    np.testing.assert_array_equal(kernel, adapter.projection.kernel.numpy())
    distiller.compile(optimizer="sgd", distillation_loss_fn=kd.losses.KLDivergence())
    assert distiller.adapters == {}
    assert len(distiller.trainable_weights) == len(distiller.student.trainable_weights)


def test_nested_sequential_layer_by_path():
    backbone = keras.Sequential(
        [keras.Input((6, 6, 2)), layers.Conv2D(3, 4, name="conv"), layers.GlobalAveragePooling2D()],
        name="backbone",
    )
    inputs = keras.Input((6, 6, 2))
    student = keras.Model(inputs, layers.Dense(3)(backbone(inputs)), name="nested_student")
    distiller = make_distiller(
        [kd.losses.KLDivergence(), kd.losses.AttentionTransfer("conv3", "backbone/conv")],
        student=student,
    )
    kernel = backbone.get_layer("conv").kernel.numpy().copy()
    history = distiller.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    assert history.history["attention_transfer"][0] > 0
    assert not np.allclose(kernel, backbone.get_layer("conv").kernel.numpy())


def test_feature_terms_are_checked_when_the_distiller_is_built():
    with pytest.raises(ValueError, match=r"Did you mean 'conv3'"):
        make_distiller([kd.losses.Hint("conv_3", "conv2")])
    with pytest.raises(ValueError, match=r"equal spatial sizes"):
        make_distiller([kd.losses.AttentionTransfer("conv3", "conv1")])
    with pytest.raises(ValueError, match=r"resize=True"):
        make_distiller([kd.losses.Hint("conv3", "conv1", resize=False)])


def test_keras_builtin_feature_distillation_runs_the_student_twice():
    """The README's comparison row: keras.distillation reads features with a
    second student pass; ours reads them from the one pass (test above)."""
    builtin = pytest.importorskip("keras.distillation")
    teacher = conv_net([4, 8, 12], "teacher", counter=True)
    student = conv_net([3, 5], "student", counter=True)
    distiller = builtin.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=[
            builtin.LogitsDistillation(temperature=3.0),
            builtin.FeatureDistillation(
                loss="mse", teacher_layer_name="embedding", student_layer_name="embedding"
            ),
        ],
    )
    distiller.compile(
        optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    for model in (teacher, student):
        model.get_layer("counter").calls.assign(0.0)
    distiller.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    assert float(student.get_layer("counter").calls.numpy()) == 6.0  # 3 steps, 2 passes each


def test_sample_weight_zero_removes_an_example_from_a_feature_term():
    distiller = make_distiller([kd.losses.Hint("embedding", "embedding")])
    teacher_outputs = distiller._teacher_forward(X[:4])
    student_outputs = distiller._student_forward(X[:4], training=False)
    t = keras.ops.convert_to_numpy(teacher_outputs["embedding"])
    s = keras.ops.convert_to_numpy(student_outputs["embedding"])
    per_example = ((t - s) ** 2).mean(-1)
    per_example[1] = np.nan  # a weight of 0 must drop even a NaN
    student_outputs["embedding"] = keras.ops.convert_to_tensor(
        np.where(np.arange(4)[:, None] == 1, np.nan, s)
    )
    loss = distiller.compute_loss(
        x=X[:4],
        y=None,
        y_pred=student_outputs[OUTPUTS],
        sample_weight=np.array([1.0, 0.0, 2.0, 1.0], "float32"),
        teacher_outputs=teacher_outputs,
        student_outputs=student_outputs,
    )
    expected = (per_example[0] + 2 * per_example[2] + per_example[3]) / 4.0
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
