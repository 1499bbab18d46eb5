"""One teacher per output of a multi-output student (`teacher={name: ...}`)."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.distiller import helpers as h

# The output without a teacher ("size") gets a gradient from its hard labels
# only; the teachers' heads get none (they are frozen). Keras may warn.
pytestmark = pytest.mark.filterwarnings("ignore:Gradients do not exist")

FEATURES, TEMPERATURE, ALPHA = 6, 2.0, 0.3
HEADS = {"digit": 4, "parity": 2, "size": 3}


def _teacher(classes, seed, softmax=False):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((FEATURES,)), keras.layers.Dense(8, activation="relu"),
              keras.layers.Dense(classes)]
    if softmax:
        layers.append(keras.layers.Activation("softmax"))
    return keras.Sequential(layers, name=f"teacher_{seed}")


def _student():
    keras.utils.set_random_seed(7)
    inputs = keras.Input((FEATURES,))
    hidden = keras.layers.Dense(5, activation="relu")(inputs)
    outputs = {name: keras.layers.Dense(units, name=name)(hidden) for name, units in HEADS.items()}
    return keras.Model(inputs, outputs, name="student")


def _data(count=16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(count, FEATURES)).astype("float32")
    y = {name: rng.integers(0, units, size=count) for name, units in HEADS.items()}
    return x, y


def _distiller(teacher, distillation_loss_fn=None, **compile_kwargs):
    cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    distiller = kd.Distiller(
        teacher=teacher, student=_student(), distillation_loss_fn=distillation_loss_fn,
        student_loss_fn={name: cross_entropy for name in HEADS},
        alpha=ALPHA, temperature=TEMPERATURE,
    )
    distiller.compile(optimizer=h.frozen_optimizer(), **compile_kwargs)
    return distiller


def _numpy_losses(teachers, student, x, y):
    """Per output: token cross-entropy; per taught output: T^2 KL."""
    predictions = student.predict(x, verbose=0)
    cross_entropy = {
        name: -np.take_along_axis(h.log_softmax(predictions[name]), y[name][:, None], 1).mean()
        for name in HEADS
    }
    kl = {name: h.np_kd(teacher, predictions[name], TEMPERATURE).mean()
          for name, teacher in teachers.items()}
    total = ALPHA * sum(cross_entropy.values()) + (1 - ALPHA) * sum(kl.values())
    return cross_entropy, kl, total


def test_each_output_is_distilled_from_its_own_teacher_and_the_rest_by_labels():
    digit, parity = _teacher(4, seed=1), _teacher(2, seed=2)
    distiller = _distiller({"digit": digit, "parity": parity})
    assert isinstance(distiller.teacher, kd.teachers.MultiTask)
    assert [term.name for term in distiller.distillation_loss_fn] == [
        "digit_kl_divergence", "parity_kl_divergence"
    ]
    x, y = _data()
    logs = distiller.fit(x, y, batch_size=16, verbose=0).history
    cross_entropy, kl, total = _numpy_losses(
        {"digit": digit.predict(x, verbose=0), "parity": parity.predict(x, verbose=0)},
        distiller.student, x, y,
    )
    for name in HEADS:
        np.testing.assert_allclose(logs[f"{name}_student_loss"][0], cross_entropy[name], rtol=1e-5)
    for name in ("digit", "parity"):
        np.testing.assert_allclose(logs[f"{name}_kl_divergence"][0], kl[name], rtol=1e-5)
    np.testing.assert_allclose(logs["loss"][0], total, rtol=1e-5)


def test_softmax_teachers_and_ensembles_are_read_as_logits_per_output():
    digit = _teacher(4, seed=1, softmax=True)
    parity_a, parity_b = _teacher(2, seed=2), _teacher(2, seed=3)
    distiller = _distiller({"digit": digit, "parity": [parity_a, parity_b]})
    x, y = _data()
    logs = distiller.fit(x, y, batch_size=16, verbose=0).history
    digit_logits = np.log(digit.predict(x, verbose=0))
    mixture = 0.5 * (h.np_softmax(parity_a.predict(x, verbose=0) / TEMPERATURE)
                     + h.np_softmax(parity_b.predict(x, verbose=0) / TEMPERATURE))
    _, kl, _ = _numpy_losses(
        {"digit": digit_logits, "parity": TEMPERATURE * np.log(mixture)}, distiller.student, x, y
    )
    np.testing.assert_allclose(logs["digit_kl_divergence"][0], kl["digit"], rtol=1e-4)
    np.testing.assert_allclose(logs["parity_kl_divergence"][0], kl["parity"], rtol=1e-4)


def test_each_teacher_runs_once_per_step():
    teachers = {"digit": _teacher(4, seed=1), "parity": _teacher(2, seed=2)}
    calls = {name: [] for name in teachers}

    def counted(call, seen):
        return lambda *args, **kwargs: seen.append(1) or call(*args, **kwargs)

    for name, teacher in teachers.items():
        teacher.call = counted(teacher.call, calls[name])
    distiller = _distiller(teachers, run_eagerly=True)
    x, y = _data()
    distiller.fit(x, y, batch_size=8, verbose=0)  # Two steps.
    assert calls == {"digit": [1, 1], "parity": [1, 1]}


def test_a_teacher_for_an_output_the_student_lacks_is_refused():
    with pytest.raises(ValueError, match=r"teacher.*'digits'.*\['digit', 'parity', 'size'\]"):
        _distiller({"digits": _teacher(4, seed=1)})


def test_the_distiller_saves_and_reloads_with_its_teachers(tmp_path):
    distiller = _distiller({"digit": _teacher(4, seed=1), "parity": _teacher(2, seed=2)})
    x, y = _data()
    before = distiller.fit(x, y, batch_size=16, verbose=0).history
    path = str(tmp_path / "multi_task.keras")
    distiller.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored.teacher, kd.teachers.MultiTask)
    assert list(restored.teacher.teachers) == ["digit", "parity"]
    assert kd.teachers.fingerprint(restored.teacher) == kd.teachers.fingerprint(distiller.teacher)
    restored.compile(optimizer=h.frozen_optimizer())
    after = restored.fit(x, y, batch_size=16, verbose=0).history
    for key in ("loss", "digit_kl_divergence", "parity_kl_divergence"):
        np.testing.assert_allclose(after[key], before[key], rtol=1e-6)


def _two_output_teacher():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((FEATURES,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, {"digit": keras.layers.Dense(4)(hidden),
                                "parity": keras.layers.Dense(2)(hidden)}, name="teacher")


@pytest.mark.parametrize("kind", ["multi_task", "two_output_model"])
def test_cached_outputs_of_every_teacher_train_as_online(kind):
    if kind == "multi_task":
        teachers = {"digit": _teacher(4, seed=1), "parity": _teacher(2, seed=2)}
    else:
        teachers = _two_output_teacher()
    x, y = _data()
    online = _distiller(teachers).fit(x, y, batch_size=16, verbose=0).history
    cached = kd.cache_teacher_outputs(teachers, (x, y), batch_size=16, verbose=0)
    terms = {"digit": kd.losses.KLDivergence(), "parity": kd.losses.KLDivergence()}
    offline = _distiller(None, distillation_loss_fn=terms).fit(cached, verbose=0).history
    for key in ("loss", "digit_kl_divergence", "parity_kl_divergence", "size_student_loss"):
        np.testing.assert_allclose(offline[key], online[key], rtol=1e-5)
