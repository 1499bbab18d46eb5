"""Teachers and students that end in a softmax: the terms read logits."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.distiller import helpers as h


def _softmax_head_model(name, seed, head="dense", units=16, sequential=False, sharpen=8.0):
    """An MLP ending in a softmax, as keras.applications models do, and the
    same model's pre-softmax logits (a model sharing its weights)."""
    keras.utils.set_random_seed(seed)
    hidden = keras.layers.Dense(units, activation="relu")
    if head == "dense":
        dense = keras.layers.Dense(h.NUM_CLASSES, activation="softmax", name="predictions")
        layers = [hidden, dense]
    else:
        dense = keras.layers.Dense(h.NUM_CLASSES, name="logits")
        final = keras.layers.Softmax() if head == "softmax_layer" else keras.layers.Activation(
            "softmax"
        )
        layers = [hidden, dense, final]
    inputs = keras.Input((h.NUM_FEATURES,))
    if sequential:
        model = keras.Sequential([inputs, *layers], name=name)
    else:
        x = inputs
        for layer in layers:
            x = layer(x)
        model = keras.Model(inputs, x, name=name)
    # Sharper than at initialization, so that softening probabilities as
    # logits would be far off.
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * sharpen, bias])
    return model, _logits_of(model, hidden, dense)


def _logits_of(model, hidden, dense):
    def logits(x):
        z = hidden(x) @ dense.kernel + dense.bias
        return keras.ops.convert_to_numpy(z).astype("float64")

    return logits


def _frozen_logs(distiller, x, y, **compile_kwargs):
    compile_kwargs.setdefault("student_loss_fn", h.sparse_ce())
    distiller.compile(optimizer=h.frozen_optimizer(), **compile_kwargs)
    history = distiller.fit(x, y, batch_size=len(x), epochs=1, verbose=0).history
    return {key: values[0] for key, values in history.items()}


@pytest.mark.parametrize("temperature", [1.0, 4.0])
@pytest.mark.parametrize(
    "head,sequential",
    [("dense", False), ("activation", False), ("softmax_layer", False), ("dense", True)],
)
def test_softmax_teacher_is_distilled_from_its_logits(head, sequential, temperature):
    x, y = h.data()
    teacher, teacher_logits = _softmax_head_model("teacher", 1, head, sequential=sequential)
    student = h.mlp(3, "student", seed=2)
    distiller = kd.Distiller(teacher=teacher, student=student)
    logs = _frozen_logs(distiller, x, y, temperature=temperature, alpha=0.5)
    t, s = teacher_logits(x), student.predict(x, verbose=0)
    np.testing.assert_allclose(teacher.predict(x, verbose=0), h.np_softmax(t), atol=1e-6)
    expected = h.np_kd(t, s, temperature).mean()
    np.testing.assert_allclose(logs["distillation_loss"], expected, rtol=1e-5)
    np.testing.assert_allclose(
        logs["loss"], 0.5 * h.np_sparse_ce(y, s).mean() + 0.5 * expected, rtol=1e-5
    )
    # Softening the probabilities as logits gives a far smaller value.
    wrong = h.np_kd(h.np_softmax(t), s, temperature).mean()
    assert abs(wrong - expected) > 0.2 * expected


def test_softmax_head_in_a_nested_model_is_read_before_its_softmax():
    x, y = h.data()
    keras.utils.set_random_seed(1)
    head = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(h.NUM_CLASSES, activation="softmax")],
        name="head",
    )
    inputs = keras.Input((h.NUM_FEATURES,))
    features = keras.layers.Dense(16, activation="relu", name="features")(inputs)
    teacher = keras.Model(inputs, head(features), name="teacher")
    student = h.mlp(3, "student", seed=2)
    logs = _frozen_logs(kd.Distiller(teacher=teacher, student=student), x, y, temperature=2.0)
    dense = head.layers[-1]
    t = keras.ops.convert_to_numpy(teacher.get_layer("features")(x) @ dense.kernel + dense.bias)
    expected = h.np_kd(t, student.predict(x, verbose=0), 2.0).mean()
    np.testing.assert_allclose(logs["distillation_loss"], expected, rtol=1e-5)


def test_softmax_student_distills_logits_and_predicts_probabilities():
    x, y = h.data()
    teacher = h.mlp(16, "teacher", seed=1)
    # Not sharpened: no probability below Keras's clip (1e-7) of the loss on
    # probabilities, which some backends apply and TensorFlow avoids.
    student, student_logits = _softmax_head_model("student", 2, units=3, sharpen=1.0)
    distiller = kd.Distiller(teacher=teacher, student=student)
    probabilities = keras.losses.SparseCategoricalCrossentropy()  # from_logits=False
    logs = _frozen_logs(
        distiller, x, y, student_loss_fn=probabilities, temperature=4.0, alpha=0.5,
        metrics=["accuracy"],
    )
    t, s = teacher.predict(x, verbose=0), student_logits(x)
    kd_value = h.np_kd(t, s, 4.0).mean()
    ce_value = h.np_sparse_ce(y, s).mean()  # The loss on probabilities, exactly.
    np.testing.assert_allclose(logs["distillation_loss"], kd_value, rtol=1e-5)
    np.testing.assert_allclose(logs["student_loss"], ce_value, rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], np.mean(s.argmax(-1) == y))
    np.testing.assert_allclose(distiller.predict(x, verbose=0), h.np_softmax(s), atol=1e-6)


def test_softmax_student_trains_like_the_same_student_with_logits():
    x, y = h.data()
    teacher = h.mlp(16, "teacher", seed=1)
    weights = {}
    for name, activation in (("probabilities", "softmax"), ("logits", None)):
        keras.utils.set_random_seed(2)
        inputs = keras.Input((h.NUM_FEATURES,))
        hidden = keras.layers.Dense(3, activation="relu")(inputs)
        outputs = keras.layers.Dense(h.NUM_CLASSES, activation=activation)(hidden)
        student = keras.Model(inputs, outputs)
        distiller = kd.Distiller(teacher=teacher, student=student)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=activation is None)
        distiller.compile(optimizer=keras.optimizers.SGD(0.1), student_loss_fn=loss)
        distiller.fit(x, y, batch_size=8, epochs=2, verbose=0)
        weights[name] = student.get_weights()
    for got, expected in zip(weights["probabilities"], weights["logits"]):
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_student_head_whose_logits_cannot_be_reached_is_refused():
    teacher = h.mlp(16, "teacher", seed=1)
    inputs = keras.Input((h.NUM_FEATURES,))
    outputs = keras.layers.Dense(
        h.NUM_CLASSES, activation="softmax", activity_regularizer="l2", name="probs"
    )(inputs)
    student = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match=r"student.*'probs' \(Dense, activation='softmax'\)"):
        kd.Distiller(teacher=teacher, student=student)


def test_callable_teacher_returning_probabilities():
    x, y = h.data()
    logits_model = h.mlp(16, "teacher", seed=1)

    def probabilities(inputs):
        return keras.ops.softmax(logits_model(inputs))

    student = h.mlp(3, "student", seed=2)
    distiller = kd.Distiller(teacher=probabilities, student=student)
    distiller.compile(optimizer=h.frozen_optimizer(), student_loss_fn=h.sparse_ce())
    with pytest.raises(ValueError, match="teacher_outputs='probabilities'"):
        distiller.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    distiller = kd.Distiller(
        teacher=probabilities, student=student, teacher_outputs="probabilities"
    )
    logs = _frozen_logs(distiller, x, y, temperature=4.0, alpha=0.0)
    t = logits_model.predict(x, verbose=0)
    expected = h.np_kd(t, student.predict(x, verbose=0), 4.0).mean()
    np.testing.assert_allclose(logs["distillation_loss"], expected, rtol=1e-5)


def test_callable_teacher_returning_logits_passes_the_first_batch_check():
    x, y = h.data()
    logits_model = h.mlp(16, "teacher", seed=1)
    student = h.mlp(3, "student", seed=2)
    distiller = kd.Distiller(teacher=lambda inputs: logits_model(inputs), student=student)
    logs = _frozen_logs(distiller, x, y, temperature=2.0, alpha=0.0)
    t = logits_model.predict(x, verbose=0)
    expected = h.np_kd(t, student.predict(x, verbose=0), 2.0).mean()
    np.testing.assert_allclose(logs["distillation_loss"], expected, rtol=1e-5)


def test_teacher_outputs_logits_is_refused_for_a_softmax_teacher():
    teacher, _ = _softmax_head_model("teacher", 1)
    student = h.mlp(3, "student", seed=2)
    with pytest.raises(ValueError, match=r"teacher_outputs.*'predictions' \(Dense"):
        kd.Distiller(teacher=teacher, student=student, teacher_outputs="logits")
    with pytest.raises(ValueError, match="Received: teacher_outputs='logit'"):
        kd.Distiller(teacher=teacher, student=student, teacher_outputs="logit")


def test_ensemble_of_softmax_teachers_mixes_their_distributions():
    x, y = h.data()
    first, first_logits = _softmax_head_model("first", 1)
    second, second_logits = _softmax_head_model("second", 3, head="activation")
    student = h.mlp(3, "student", seed=2)
    distiller = kd.Distiller(teacher=[first, second], student=student)
    logs = _frozen_logs(distiller, x, y, temperature=2.0, alpha=0.0)
    mixture = 0.5 * h.np_softmax(first_logits(x) / 2.0) + 0.5 * h.np_softmax(second_logits(x) / 2.0)
    expected = h.np_kd(2.0 * np.log(mixture), student.predict(x, verbose=0), 2.0).mean()
    np.testing.assert_allclose(logs["distillation_loss"], expected, rtol=1e-5)


def test_cached_outputs_of_a_softmax_teacher_are_its_logits():
    x, y = h.data()
    teacher, teacher_logits = _softmax_head_model("teacher", 1)
    cached = kd.cache_teacher_outputs(teacher, (x, y), batch_size=len(x), verbose=0)
    stored = next(iter(cached))[0]["__teacher_outputs__"]
    np.testing.assert_allclose(np.asarray(stored), teacher_logits(x), rtol=1e-5, atol=1e-5)


def test_teacher_outputs_round_trips_through_config_and_saving(tmp_path):
    teacher = h.mlp(16, "teacher", seed=1)
    distiller = kd.Distiller(
        teacher=teacher, student=h.mlp(3, "student", seed=2), teacher_outputs="logits"
    )
    config = distiller.get_config()
    assert config["teacher_outputs"] == "logits"
    assert kd.Distiller.from_config(config).teacher_outputs == "logits"
    ensemble = kd.teachers.Ensemble([teacher], teacher_outputs="probabilities")
    restored = kd.teachers.Ensemble.from_config(ensemble.get_config())
    assert restored.teacher_outputs == "probabilities"
    path = str(tmp_path / "distiller.keras")
    distiller.compile(optimizer="sgd", student_loss_fn=h.sparse_ce())
    distiller.save(path)
    assert keras.models.load_model(path).teacher_outputs == "logits"


def test_heads_are_found_per_output_of_a_multi_output_teacher():
    x, y = h.data()
    keras.utils.set_random_seed(1)
    inputs = keras.Input((h.NUM_FEATURES,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    scores = keras.layers.Dense(h.NUM_CLASSES, name="scores")(hidden)
    teacher = keras.Model(
        inputs,
        {"digit": keras.layers.Softmax(name="digit")(scores),
         "value": keras.layers.Dense(1, name="value")(hidden)},
    )
    keras.utils.set_random_seed(2)
    inputs = keras.Input((h.NUM_FEATURES,))
    hidden = keras.layers.Dense(3, activation="relu")(inputs)
    student = keras.Model(
        inputs,
        {"digit": keras.layers.Dense(h.NUM_CLASSES, name="digit")(hidden),
         "value": keras.layers.Dense(1, name="value")(hidden)},
    )
    distiller = kd.Distiller(
        teacher=teacher, student=student,
        distillation_loss_fn={"digit": kd.losses.KLDivergence(), "value": kd.losses.LogitMSE()},
    )
    distiller.compile(optimizer=h.frozen_optimizer(), temperature=4.0)
    logs = {k: v[0] for k, v in distiller.fit(x, batch_size=len(x), epochs=1, verbose=0)
            .history.items()}
    t_scores = keras.ops.convert_to_numpy(keras.Model(inputs=teacher.inputs,
                                                      outputs=scores)(x))
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    np.testing.assert_allclose(
        logs["digit_kl_divergence"], h.np_kd(t_scores, s["digit"], 4.0).mean(), rtol=1e-5
    )
    np.testing.assert_allclose(
        logs["value_logit_mse"], np.mean((t["value"] - s["value"]) ** 2), rtol=1e-5
    )


def test_sigmoid_teacher_is_read_before_its_sigmoid():
    x, _ = h.data()
    keras.utils.set_random_seed(1)
    inputs = keras.Input((h.NUM_FEATURES,))
    dense = keras.layers.Dense(3, activation="sigmoid", name="labels")
    teacher = keras.Model(inputs, dense(inputs))
    keras.utils.set_random_seed(2)
    student = keras.Sequential([keras.Input((h.NUM_FEATURES,)), keras.layers.Dense(3)])
    distiller = kd.Distiller(
        teacher=teacher, student=student, distillation_loss_fn=kd.losses.BernoulliKLDivergence()
    )
    distiller.compile(optimizer=h.frozen_optimizer(), temperature=2.0)
    logs = distiller.fit(x, batch_size=len(x), epochs=1, verbose=0).history
    t = keras.ops.convert_to_numpy(x @ dense.kernel + dense.bias)
    expected = kd.losses.bernoulli_kl_divergence(t, student.predict(x, verbose=0), 2.0)
    np.testing.assert_allclose(
        logs["distillation_loss"][0], np.mean(keras.ops.convert_to_numpy(expected)), rtol=1e-5
    )


def test_cache_of_a_callable_teacher_returning_probabilities():
    x, y = h.data()
    logits_model = h.mlp(16, "teacher", seed=1)

    def probabilities(inputs):
        return keras.ops.softmax(logits_model(inputs))

    with pytest.raises(ValueError, match="teacher_outputs='probabilities'"):
        kd.cache_teacher_outputs(probabilities, (x, y), batch_size=len(x), verbose=0)
    cached = kd.cache_teacher_outputs(
        probabilities, (x, y), batch_size=len(x), teacher_outputs="probabilities", verbose=0
    )
    stored = np.asarray(next(iter(cached))[0]["__teacher_outputs__"], "float64")
    t = logits_model.predict(x, verbose=0)
    # log(p) differs from the logits by a per-example constant: the same softmax.
    np.testing.assert_allclose(h.np_softmax(stored / 3.0), h.np_softmax(t / 3.0), atol=1e-6)


def test_softmax_student_of_padded_sequences_keeps_its_mask():
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 9, size=(6, 5)).astype("int32")
    tokens[:, 3:] = 0  # Padding, masked by the embeddings.
    models = {}
    for name, seed, activation in (("teacher", 1, None), ("student", 2, "softmax")):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((5,), dtype="int32")
        hidden = keras.layers.Embedding(9, 8, mask_zero=True, name="embedding")(inputs)
        dense = keras.layers.Dense(h.NUM_CLASSES, activation=activation, name="tokens")
        models[name] = (keras.Model(inputs, dense(hidden), name=name), dense)
    (teacher, _), (student, dense) = models["teacher"], models["student"]
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer=h.frozen_optimizer(), temperature=2.0)
    logs = distiller.fit(tokens, batch_size=6, epochs=1, verbose=0).history
    embedded = keras.ops.convert_to_numpy(student.get_layer("embedding")(tokens))
    s = embedded @ keras.ops.convert_to_numpy(dense.kernel) + keras.ops.convert_to_numpy(dense.bias)
    per_token = h.np_kd(teacher.predict(tokens, verbose=0), s, 2.0)
    np.testing.assert_allclose(
        logs["distillation_loss"][0], per_token[:, :3].mean(), rtol=1e-4, atol=1e-7
    )
    # All positions would give another value.
    assert abs(per_token.mean() - per_token[:, :3].mean()) > 1e-2 * per_token[:, :3].mean()


def test_graph_teacher_ending_in_an_op_softmax_is_read_before_it():
    x, y = h.data()
    keras.utils.set_random_seed(1)
    inputs = keras.Input((h.NUM_FEATURES,))
    dense = keras.layers.Dense(h.NUM_CLASSES)
    teacher = keras.Model(inputs, keras.ops.softmax(dense(inputs)))
    student = h.mlp(3, "student", seed=2)
    logs = _frozen_logs(kd.Distiller(teacher=teacher, student=student), x, y,
                        temperature=4.0, alpha=0.0)
    t = keras.ops.convert_to_numpy(dense(x))
    expected = h.np_kd(t, student.predict(x, verbose=0), 4.0).mean()
    np.testing.assert_allclose(logs["distillation_loss"], expected, rtol=1e-5)


def test_layer_teachers_without_weights_are_accepted():
    x, y = h.data()
    logits_model = h.mlp(16, "teacher", seed=1)
    for teacher in (kd.teachers.CallableTeacher(lambda inputs: logits_model(inputs)),
                    keras.layers.Lambda(lambda inputs: logits_model(inputs))):
        distiller = kd.Distiller(teacher=teacher, student=h.mlp(3, "student", seed=2))
        logs = _frozen_logs(distiller, x, y, temperature=2.0, alpha=0.0)
        expected = h.np_kd(logits_model.predict(x, verbose=0),
                           distiller.student.predict(x, verbose=0), 2.0).mean()
        np.testing.assert_allclose(logs["distillation_loss"], expected, rtol=1e-5)


def test_an_unreachable_head_that_no_term_reads_is_left_alone():
    x, y = h.data()
    teacher = h.mlp(16, "teacher", seed=1)
    keras.utils.set_random_seed(2)
    inputs = keras.Input((h.NUM_FEATURES,))
    hidden = keras.layers.Dense(3, activation="relu")(inputs)
    student = keras.Model(inputs, {
        "logits": keras.layers.Dense(h.NUM_CLASSES, name="logits")(hidden),
        "mixture": keras.layers.Softmax(axis=0, name="mixture")(
            keras.layers.Dense(2)(hidden)),
    })
    distiller = kd.Distiller(
        teacher=teacher, student=student,
        distillation_loss_fn={"logits": kd.losses.KLDivergence(), "mixture": None},
    )
    logs = _frozen_logs(distiller, x, None, student_loss_fn=None, temperature=2.0)
    expected = h.np_kd(teacher.predict(x, verbose=0),
                       student.predict(x, verbose=0)["logits"], 2.0).mean()
    np.testing.assert_allclose(logs["distillation_loss"], expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"'mixture' \(Softmax.*not the last"):
        kd.Distiller(teacher=teacher, student=student,
                     distillation_loss_fn={"mixture": kd.losses.KLDivergence()})
