"""Multi-output models: a dict or list of losses, one per output; None skips."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_distill as kd
from tests.distiller import helpers as h

# Heads without a distillation term get no gradient; Keras warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Gradients do not exist")


def _two_heads(name, seed, as_dict=True):
    """A model with a 4-class `logits` head and a 1-unit regression `value` head."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((h.NUM_FEATURES,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    logits = keras.layers.Dense(h.NUM_CLASSES, name="logits")(hidden)
    value = keras.layers.Dense(1, name="value")(hidden)
    outputs = {"logits": logits, "value": value} if as_dict else [logits, value]
    return keras.Model(inputs, outputs, name=name)


def _models(as_dict=True):
    return _two_heads("teacher", 1, as_dict), _two_heads("student", 2, as_dict)


def _distiller(distillation_loss_fn, as_dict=True, **kwargs):
    teacher, student = _models(as_dict)
    distiller = kd.Distiller(
        teacher=teacher, student=student, distillation_loss_fn=distillation_loss_fn, **kwargs
    )
    return teacher, student, distiller


def _fit_frozen(distiller, x, y=None):
    distiller.compile(optimizer=h.frozen_optimizer(), temperature=2.0, jit_compile=False)
    history = distiller.fit(x, y, batch_size=len(x), epochs=1, verbose=0).history
    return {key: values[0] for key, values in history.items()}


def test_dict_of_losses_distills_each_output_under_its_name():
    x, labels = h.data(16)
    teacher, student, distiller = _distiller(
        {
            "logits": [kd.losses.KLDivergence(), kd.losses.DKD()],
            "value": kd.losses.LogitHuber(),
        },
        distillation_loss_weights=[1.0, 0.5, 2.0],
    )
    names = [term.name for term in distiller.distillation_loss_fn]
    assert names == ["logits_kl_divergence", "logits_dkd", "value_logit_huber"]
    logs = _fit_frozen(distiller, x, {"logits": labels, "value": np.zeros((16, 1))})
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    kl = h.np_kd(t["logits"], s["logits"], 2.0).mean()
    dkd = ops.convert_to_numpy(kd.losses.decoupled_kd(t["logits"], s["logits"], labels, 2.0))
    huber = ops.convert_to_numpy(kd.losses.logit_huber(t["value"], s["value"]))
    dkd, huber = np.mean(dkd), np.mean(huber)
    np.testing.assert_allclose(logs["logits_kl_divergence"], kl, rtol=1e-4)
    np.testing.assert_allclose(logs["logits_dkd"], dkd, rtol=1e-4)
    np.testing.assert_allclose(logs["value_logit_huber"], huber, rtol=1e-4)
    np.testing.assert_allclose(logs["distillation_loss"], kl + 0.5 * dkd + 2 * huber, rtol=1e-4)


def test_list_of_losses_with_none_skips_an_output():
    x, _ = h.data(16)
    teacher, student, distiller = _distiller([None, kd.losses.LogitMSE()], as_dict=False)
    [term] = distiller.distillation_loss_fn
    assert (term.name, term.output) == ("value_logit_mse", 1)
    logs = _fit_frozen(distiller, x)
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    np.testing.assert_allclose(
        logs["distillation_loss"], np.mean((t[1] - s[1]) ** 2), rtol=1e-4
    )


def test_dict_keys_may_name_the_outputs_of_a_list_model():
    _, _, distiller = _distiller({"logits": kd.losses.DIST()}, as_dict=False)
    [term] = distiller.distillation_loss_fn
    assert (term.name, term.output) == ("logits_dist", 0)


def test_per_output_terms_survive_save_and_load(tmp_path):
    user_term = kd.losses.KLDivergence(standardize=True)
    _, _, distiller = _distiller({"logits": user_term, "value": None})
    assert user_term.output is None  # The user's object is copied, not changed.
    distiller.compile(optimizer="adam")
    x, _ = h.data(8)
    distiller.fit(x, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "multi.keras"
    distiller.save(path)
    loaded = keras.models.load_model(path)
    [term] = loaded.distillation_loss_fn
    assert term.get_config() == {
        "temperature": None,
        "name": "logits_kl_divergence",
        "output": "logits",
        "standardize": True,
        "chunk_size": "auto",
    }
    loaded.fit(x, batch_size=8, epochs=1, verbose=0)


def test_explicit_output_attribute_for_terms():
    x, _ = h.data(16)
    teacher, student, distiller = _distiller([kd.losses.KLDivergence(output="logits")])
    logs = _fit_frozen(distiller, x)
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    np.testing.assert_allclose(
        logs["distillation_loss"], h.np_kd(t["logits"], s["logits"], 2.0).mean(), rtol=1e-4
    )


@pytest.mark.parametrize("distillation_loss_fn", [None, kd.losses.KLDivergence()])
def test_one_logit_term_distills_every_output_the_teacher_shares(distillation_loss_fn):
    x, labels = h.data(16)
    teacher, student, distiller = _distiller(distillation_loss_fn)
    names = [term.name for term in distiller.distillation_loss_fn]
    assert names == ["logits_kl_divergence", "value_kl_divergence"]
    logs = _fit_frozen(distiller, x)
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    kl = h.np_kd(t["logits"], s["logits"], 2.0).mean()
    np.testing.assert_allclose(logs["logits_kl_divergence"], kl, rtol=1e-5)
    np.testing.assert_allclose(logs["distillation_loss"], kl, rtol=1e-5)  # 1 class: KL 0


def test_outputs_the_teacher_lacks_get_no_default_term():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((h.NUM_FEATURES,))
    teacher = keras.Model(
        inputs, {"logits": keras.layers.Dense(h.NUM_CLASSES, name="logits")(inputs)}
    )
    _, student = _models()
    distiller = kd.Distiller(teacher=teacher, student=student)
    assert [term.name for term in distiller.distillation_loss_fn] == ["logits_kl_divergence"]
    other = keras.Model(inputs, {"class": keras.layers.Dense(h.NUM_CLASSES)(inputs)})
    with pytest.raises(ValueError, match=r"shares none of them by name.*\['class'\]"):
        kd.Distiller(teacher=other, student=student)


@pytest.mark.parametrize(
    "distillation_loss_fn, match",
    [
        ([kd.losses.KLDivergence()], r"one loss \(or None\) per output of the student, 2"),
        ({"logit": kd.losses.KLDivergence()}, r"Received: distillation_loss_fn='logit'"),
        ({"logits": None, "value": None}, "a loss for at least one output"),
        ({"logits": kd.losses.KLDivergence(output="value")}, "already reads output 'value'"),
    ],
)
def test_per_output_errors(distillation_loss_fn, match):
    with pytest.raises(ValueError, match=match):
        _distiller(distillation_loss_fn)
