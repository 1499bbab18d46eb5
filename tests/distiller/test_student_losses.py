"""The student's own losses and per-output hard-label losses, as Model.fit has them."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.distiller import helpers as h

ALPHA, TEMPERATURE = 0.5, 4.0


def _student(seed=2, **dense_kwargs):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((h.NUM_FEATURES,))
    hidden = keras.layers.Dense(3, activation="relu", name="hidden", **dense_kwargs)(inputs)
    outputs = keras.layers.Dense(h.NUM_CLASSES, name="logits")(hidden)
    return keras.Model(inputs, outputs, name="student")


def _frozen_logs(distiller, x, y, **compile_kwargs):
    compile_kwargs.setdefault("student_loss_fn", h.sparse_ce())
    distiller.compile(
        optimizer=h.frozen_optimizer(), alpha=ALPHA, temperature=TEMPERATURE, **compile_kwargs
    )
    history = distiller.fit(x, y, batch_size=len(x), epochs=1, verbose=0).history
    return {key: values[0] for key, values in history.items()}


def _kd_loss(teacher, student, x, y):
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    return ALPHA * h.np_sparse_ce(y, s).mean() + (1 - ALPHA) * h.np_kd(t, s, TEMPERATURE).mean()


def test_kernel_regularizer_is_added_once_unweighted_by_alpha():
    x, y = h.data()
    teacher = h.mlp(16, "teacher", seed=1)
    student = _student(kernel_regularizer=keras.regularizers.L2(1.0))
    logs = _frozen_logs(kd.Distiller(teacher=teacher, student=student), x, y)
    penalty = (student.get_layer("hidden").kernel.numpy().astype("float64") ** 2).sum()
    np.testing.assert_allclose(logs["loss"], _kd_loss(teacher, student, x, y) + penalty, rtol=1e-5)
    # The student loss and the distillation loss are logged without it.
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    np.testing.assert_allclose(logs["student_loss"], h.np_sparse_ce(y, s).mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["distillation_loss"], h.np_kd(t, s, TEMPERATURE).mean(),
                               rtol=1e-5)


def test_regularized_student_trains_to_smaller_weights():
    x, y = h.data()
    teacher = h.mlp(16, "teacher", seed=1)
    norms = {}
    for strength in (0.0, 1.0):
        student = _student(kernel_regularizer=keras.regularizers.L2(strength))
        distiller = kd.Distiller(teacher=teacher, student=student)
        distiller.compile(optimizer=keras.optimizers.SGD(0.1), student_loss_fn=h.sparse_ce())
        distiller.fit(x, y, batch_size=8, epochs=3, verbose=0)
        norms[strength] = np.square(student.get_layer("hidden").kernel.numpy()).sum()
    assert norms[1.0] < 0.5 * norms[0.0]


def _keras_version():
    return tuple(int(part) for part in keras.version().split(".")[:2])


class _Penalty(keras.layers.Layer):
    """Adds `weight * mean(x^2)` with `add_loss`; passes its input through."""

    def __init__(self, weight, **kwargs):
        super().__init__(**kwargs)
        self.weight = weight

    def call(self, x):
        self.add_loss(self.weight * keras.ops.mean(keras.ops.square(x)))
        return x


def test_add_loss_and_activity_regularizer_are_part_of_the_training_loss():
    x, y = h.data()
    teacher = h.mlp(16, "teacher", seed=1)
    keras.utils.set_random_seed(2)
    inputs = keras.Input((h.NUM_FEATURES,))
    hidden = keras.layers.Dense(
        3, activation="relu", activity_regularizer=keras.regularizers.L1(0.5), name="hidden"
    )(inputs)
    hidden = _Penalty(2.0)(hidden)
    student = keras.Model(inputs, keras.layers.Dense(h.NUM_CLASSES)(hidden))
    logs = _frozen_logs(kd.Distiller(teacher=teacher, student=student), x, y)
    features = keras.ops.convert_to_numpy(student.get_layer("hidden")(x)).astype("float64")
    # Keras's L1 activity regularizer sums |x| over the batch; Keras 3.14 and
    # later divide it by the batch size.
    activity = 0.5 * np.abs(features).sum()
    if _keras_version() >= (3, 14):
        activity /= len(x)
    penalty = 2.0 * np.mean(features**2)
    np.testing.assert_allclose(
        logs["loss"], _kd_loss(teacher, student, x, y) + activity + penalty, rtol=1e-5
    )


def _two_heads(name, seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((h.NUM_FEATURES,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(
        inputs,
        {
            "digit": keras.layers.Dense(h.NUM_CLASSES, name="digit")(hidden),
            "parity": keras.layers.Dense(2, name="parity")(hidden),
        },
        name=name,
    )


@pytest.mark.parametrize("as_list", [False, True])
def test_dict_or_list_of_student_losses_with_loss_weights(as_list):
    x, y = h.data()
    labels = {"digit": y, "parity": y % 2}
    teacher, student = _two_heads("teacher", 1), _two_heads("student", 2)
    losses = {"digit": h.sparse_ce(), "parity": h.sparse_ce()}
    weights = {"digit": 1.0, "parity": 3.0}
    if as_list:
        losses, weights = list(losses.values()), list(weights.values())
    distiller = kd.Distiller(teacher=teacher, student=student)
    logs = _frozen_logs(distiller, x, labels, student_loss_fn=losses, loss_weights=weights)
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    digit = h.np_sparse_ce(y, s["digit"]).mean()
    parity = h.np_sparse_ce(y % 2, s["parity"]).mean()
    student_loss = digit + 3.0 * parity
    # The default term distills both outputs, which teacher and student share.
    distillation = sum(h.np_kd(t[k], s[k], TEMPERATURE).mean() for k in ("digit", "parity"))
    np.testing.assert_allclose(logs["digit_student_loss"], digit, rtol=1e-5)
    np.testing.assert_allclose(logs["parity_student_loss"], parity, rtol=1e-5)
    np.testing.assert_allclose(logs["student_loss"], student_loss, rtol=1e-5)
    np.testing.assert_allclose(
        logs["loss"], ALPHA * student_loss + (1 - ALPHA) * distillation, rtol=1e-5
    )


def test_loss_weights_are_given_per_output_also_for_outputs_without_a_loss():
    x, y = h.data()
    teacher, student = _two_heads("teacher", 1), _two_heads("student", 2)
    distiller = kd.Distiller(teacher=teacher, student=student)
    logs = _frozen_logs(
        distiller, x, {"digit": y, "parity": y % 2},
        student_loss_fn=[h.sparse_ce(), None], loss_weights=[2.0, 0.0],
    )
    s = student.predict(x, verbose=0)
    np.testing.assert_allclose(logs["student_loss"], 2.0 * h.np_sparse_ce(y, s["digit"]).mean(),
                               rtol=1e-5)


def test_per_output_student_losses_round_trip(tmp_path):
    teacher, student = _two_heads("teacher", 1), _two_heads("student", 2)
    distiller = kd.Distiller(
        teacher=teacher,
        student=student,
        student_loss_fn={"digit": h.sparse_ce(), "parity": None},
        loss_weights={"digit": 2.0},
    )
    config = distiller.get_config()
    restored = kd.Distiller.from_config(config)
    assert set(restored.student_loss_fn) == {"digit", "parity"}
    assert restored.student_loss_fn["parity"] is None
    assert restored.loss_weights == {"digit": 2.0}
    assert restored.get_config() == config
    distiller.compile(optimizer="sgd")
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    assert keras.models.load_model(path).loss_weights == {"digit": 2.0}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"student_loss_fn": {"digits": "mse"}}, r"Received: student_loss_fn='digits'"),
        ({"student_loss_fn": ["mse"]}, r"one loss \(or None\) per output of the student, 2"),
        ({"student_loss_fn": "mse", "loss_weights": [1.0]}, "None for a single student loss"),
        ({"student_loss_fn": ["mse", None], "loss_weights": [1.0]}, "a list of 2 numbers"),
        ({"student_loss_fn": {"digit": "mse"}, "loss_weights": {"value": 2.0}},
         r"keys among the student's outputs: \['digit', 'parity'\]"),
    ],
)
def test_per_output_student_loss_errors(kwargs, match):
    teacher, student = _two_heads("teacher", 1), _two_heads("student", 2)
    with pytest.raises(ValueError, match=match):
        kd.Distiller(teacher=teacher, student=student, **kwargs)


def test_evaluate_adds_the_students_own_losses_as_keras_does():
    x, y = h.data()
    teacher = h.mlp(16, "teacher", seed=1)
    keras.utils.set_random_seed(2)
    inputs = keras.Input((h.NUM_FEATURES,))
    hidden = keras.layers.Dense(3, activation="relu", kernel_regularizer="l2")(inputs)
    hidden = _Penalty(2.0)(hidden)
    student = keras.Model(inputs, keras.layers.Dense(h.NUM_CLASSES)(hidden))
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer="sgd", student_loss_fn=h.sparse_ce())
    got = distiller.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    student.compile(loss=h.sparse_ce())
    expected = student.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-5)
    assert got["loss"] > got["student_loss"] + 1e-3


@pytest.mark.parametrize("loss", [
    "sparse_categorical_crossentropy",
    keras.losses.SparseCategoricalCrossentropy(),
    keras.losses.CategoricalCrossentropy(from_logits=False),
])
def test_a_loss_on_probabilities_for_a_student_that_outputs_logits_is_refused(loss):
    with pytest.raises(ValueError, match=(
            r"`student_loss_fn`.*\(from_logits=False\).*student 'student' outputs logits "
            r"\(its layer 'logits' has no activation\).*from_logits=True")):
        kd.Distiller(teacher=h.mlp(16, "teacher", seed=1), student=_student(),
                     student_loss_fn=loss)
    distiller = kd.Distiller(teacher=h.mlp(16, "teacher", seed=1), student=_student())
    with pytest.raises(ValueError, match="outputs logits"):
        distiller.compile(optimizer="sgd", student_loss_fn=loss)


def test_the_refusal_names_the_output_of_a_multi_output_student():
    with pytest.raises(ValueError, match=r"for output 'parity'.*its layer 'parity'"):
        kd.Distiller(teacher=_two_heads("teacher", 1), student=_two_heads("student", 2),
                     student_loss_fn={"digit": h.sparse_ce(), "parity": "binary_crossentropy"})


def test_a_distiller_saved_with_such_a_loss_loads_with_a_warning():
    distiller = kd.Distiller(teacher=h.mlp(16, "teacher", seed=1), student=_student(),
                             student_loss_fn=h.sparse_ce())
    # The config of a Distiller saved before the refusal existed, with a loss
    # on probabilities.
    config = distiller.get_config()
    config["student_loss_fn"] = keras.saving.serialize_keras_object(
        keras.losses.SparseCategoricalCrossentropy())
    with pytest.warns(UserWarning, match="outputs logits"):
        loaded = kd.Distiller.from_config(config)
    assert loaded.student.name == "student"
    with pytest.raises(ValueError, match="outputs logits"):  # Outside loading, refused.
        kd.Distiller.from_config(config).compile(optimizer="sgd")


def test_an_output_key_that_names_no_output_is_left_to_the_other_checks():
    inputs = keras.Input((h.NUM_FEATURES,))
    student = keras.Model(inputs, [keras.layers.Dense(h.NUM_CLASSES, name="logits")(inputs)])
    loss = {"logits": "sparse_categorical_crossentropy"}
    # A one-element list of outputs has no key "logits": the check reads no
    # layer there and does not fail on the lookup.
    distiller = kd.Distiller(teacher=h.mlp(16, "teacher", seed=1), student=student,
                             student_loss_fn=loss)
    assert distiller.student_loss_fn == loss


class _Probabilities(keras.layers.Layer):
    """A layer whose softmax no graph reading can see."""

    def call(self, inputs):
        return keras.ops.softmax(inputs)


@pytest.mark.parametrize("head", ["softmax", "custom"])
def test_students_that_output_probabilities_keep_losses_on_probabilities(head):
    keras.utils.set_random_seed(2)
    inputs = keras.Input((h.NUM_FEATURES,))
    hidden = keras.layers.Dense(h.NUM_CLASSES, name="logits")(inputs)
    outputs = (keras.layers.Activation("softmax")(hidden) if head == "softmax"
               else _Probabilities()(hidden))
    student = keras.Model(inputs, outputs, name="student")
    distiller = kd.Distiller(teacher=h.mlp(16, "teacher", seed=1), student=student)
    x, y = h.data()
    logs = _frozen_logs(distiller, x, y, student_loss_fn="sparse_categorical_crossentropy")
    probabilities = keras.ops.convert_to_numpy(student(x))
    expected = -np.log(probabilities[np.arange(len(y)), y]).mean()
    np.testing.assert_allclose(logs["student_loss"], expected, rtol=1e-5)
