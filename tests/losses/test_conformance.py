"""One conformance suite for every exported distillation loss.

Each loss in `keras_distill.losses` goes through the same checks: a numpy
reference value (T^2 included, several temperatures), zero when teacher ==
student, finite gradients for logits of magnitude 1e3 at T=0.5 and T=20,
float16/bfloat16 inputs, sample weights and masks (explicit and Keras
masks), an all-masked batch, the config round trip, and one real `fit()`
step plus a `.keras` save/load of a Distiller using it.

The numpy references (`references.py`) are written independently of the
library, in float64, following each paper's formula or its authors' code.
"""

import dataclasses
import inspect
import json

import keras
import numpy as np
import pytest
from keras import ops

import keras_distill as kd
from keras_distill.src.distiller.terms import term_value
from keras_distill.src.losses.base import OUTPUTS
from tests.backends import value_and_gradient
from tests.losses import references as ref

BATCH, TIME, CLASSES = 6, 4, 5


# ----------------------------------------------------------------------------
# The cases: every exported loss class, some with a second configuration
# ----------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    id: str
    make: object  # () -> DistillationLoss
    reference: object  # (t, s, T, y) -> per-example values
    batch_reference: object = None  # (t, s, T, y, weights) -> reduced loss
    zero_when_equal: bool = True

    def loss(self, t, s, temperature, y, weights=None):
        """The reference of what the Distiller adds: the weighted mean."""
        weights = np.ones(t.shape[:-1]) if weights is None else weights
        if self.batch_reference is not None:
            return self.batch_reference(t, s, temperature, y, weights)
        if weights.sum() == 0:
            return 0.0
        values = self.reference(t, s, temperature, y)
        return (weights * values).sum() / weights.sum()


L = kd.losses
CASES = [
    Case("KLDivergence", L.KLDivergence, lambda t, s, T, y: ref.kl(t, s, T)),
    Case(
        "KLDivergence-standardize",
        lambda: L.KLDivergence(standardize=True),
        lambda t, s, T, y: ref.kl(t, s, T, standardize=True),
    ),
    Case("SoftTargetCrossEntropy", L.SoftTargetCrossEntropy, ref.soft_target_ce,
         zero_when_equal=False),
    Case("ReverseKLDivergence", L.ReverseKLDivergence, lambda t, s, T, y: ref.kl(s, t, T)),
    Case("JensenShannon", L.JensenShannon, ref.jensen_shannon(0.5)),
    Case(
        "JensenShannon-beta0.2-standardize",
        lambda: L.JensenShannon(beta=0.2, standardize=True),
        ref.jensen_shannon(0.2, standardize=True),
    ),
    Case("LogitMSE", L.LogitMSE, lambda t, s, T, y: ((s - t) ** 2).mean(-1)),
    Case("LogitHuber", lambda: L.LogitHuber(delta=0.5), ref.huber),
    Case("LogitCosine", L.LogitCosine, ref.cosine),
    Case("DKD", L.DKD, ref.dkd),
    Case(
        "DKD-alpha2-beta0.5",
        lambda: L.DKD(alpha=2.0, beta=0.5),
        lambda t, s, T, y: ref.dkd(t, s, T, y, alpha=2.0, beta=0.5),
    ),
    Case("DIST", L.DIST, None, batch_reference=ref.dist_batch),
    Case("BernoulliKLDivergence", L.BernoulliKLDivergence, ref.bernoulli_kl),
    Case("KerasLoss", lambda: L.KerasLoss(keras.losses.KLDivergence()), ref.keras_kl),
]
TEMPERATURE_FREE = (L.LogitMSE, L.LogitHuber, L.LogitCosine)



def _first_of_each_class(cases):
    first = {}
    for case in cases:
        first.setdefault(type(case.make()), case)
    return list(first.values())


# The slower checks (fit, save) run on one configuration per class.
ONE_PER_CLASS = _first_of_each_class(CASES)


def parametrize_cases(cases=CASES):
    return pytest.mark.parametrize("case", cases, ids=[case.id for case in cases])


def _logits(rng, shape, scale=3.0):
    return rng.normal(size=shape) * scale


def _labels(rng, shape):
    return rng.integers(0, CLASSES, size=shape)


def _value(term, t, s, temperature, y=None, sample_weight=None, mask=None):
    return term_value(
        term, {OUTPUTS: t}, {OUTPUTS: s}, temperature, y=y, sample_weight=sample_weight, mask=mask
    )


def test_every_exported_loss_has_a_case():
    exported = {
        obj
        for name in L.__all__
        if inspect.isclass(obj := getattr(L, name))
        and issubclass(obj, L.DistillationLoss)
        and obj is not L.DistillationLoss
        # Feature terms read layers: tests/features/test_feature_losses.py.
        and not issubclass(obj, L.FeatureLoss)
    }
    covered = {type(case.make()) for case in CASES}
    assert exported == covered


# ----------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------


@parametrize_cases()
@pytest.mark.parametrize("temperature", [1.0, 4.0, 20.0])
def test_matches_numpy_reference(case, temperature):
    rng = np.random.default_rng(1)
    t, s = _logits(rng, (BATCH, CLASSES)), _logits(rng, (BATCH, CLASSES))
    y = _labels(rng, (BATCH,))
    term = case.make()
    values = term(t.astype("float32"), s.astype("float32"), temperature=temperature, y_true=y)
    assert tuple(values.shape) == (BATCH,)
    assert keras.backend.standardize_dtype(values.dtype) == "float32"
    if case.batch_reference is None:
        np.testing.assert_allclose(values, case.reference(t, s, temperature, y), rtol=2e-4,
                                   atol=1e-5 * temperature**2)
    expected = case.loss(t, s, temperature, y)
    actual = _value(term, t.astype("float32"), s.astype("float32"), temperature, y)
    np.testing.assert_allclose(actual, expected, rtol=2e-4, atol=1e-5 * temperature**2)


@parametrize_cases([case for case in CASES if case.zero_when_equal])
@pytest.mark.parametrize("temperature", [1.0, 20.0])
def test_zero_when_teacher_equals_student(case, temperature):
    rng = np.random.default_rng(2)
    t = _logits(rng, (BATCH, CLASSES)).astype("float32")
    y = _labels(rng, (BATCH,))
    term = case.make()
    np.testing.assert_allclose(_value(term, t, t, temperature, y), 0.0, atol=1e-5 * temperature**2)
    if case.batch_reference is None:  # DIST's per-position shares only sum to 0.
        values = term(t, t, temperature=temperature, y_true=y)
        np.testing.assert_allclose(values, 0.0, atol=1e-5 * temperature**2)


@parametrize_cases()
@pytest.mark.parametrize("temperature", [0.5, 20.0])
def test_finite_gradients_for_large_logits(case, temperature):
    rng = np.random.default_rng(3)
    t = ops.convert_to_tensor(_logits(rng, (BATCH, CLASSES), scale=1e3), "float32")
    s = _logits(rng, (BATCH, CLASSES), scale=1e3)
    y = _labels(rng, (BATCH,))
    loss, gradient = value_and_gradient(
        lambda s: _value(case.make(), t, s, temperature, y), s
    )
    assert np.isfinite(loss)
    assert np.all(np.isfinite(gradient))


@parametrize_cases()
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs(case, dtype):
    rng = np.random.default_rng(4)
    t = ops.convert_to_tensor(_logits(rng, (BATCH, CLASSES)), dtype)
    s = ops.convert_to_tensor(_logits(rng, (BATCH, CLASSES)), dtype)
    y = _labels(rng, (BATCH,))
    values = case.make()(t, s, temperature=2.0, y_true=y)
    assert keras.backend.standardize_dtype(values.dtype) == "float32"
    # The math runs in float32 on the rounded inputs: same as the reference.
    t64, s64 = (ops.convert_to_numpy(ops.cast(z, "float32")).astype("float64") for z in (t, s))
    expected = case.loss(t64, s64, 2.0, y)
    np.testing.assert_allclose(_value(case.make(), t, s, 2.0, y), expected, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------
# Weights and masks
# ----------------------------------------------------------------------------


def _padded_batch(rng):
    """Sequence logits `(batch, time, vocab)`, labels, and padding weights.

    Padded positions hold huge logits and out-of-range labels: they must not
    change the result.
    """
    t = _logits(rng, (BATCH, TIME, CLASSES))
    s = _logits(rng, (BATCH, TIME, CLASSES))
    y = _labels(rng, (BATCH, TIME))
    lengths = np.array([4, 3, 1, 4, 2, 3])
    valid = np.arange(TIME)[None, :] < lengths[:, None]
    t_padded = np.where(valid[..., None], t, 1e3 * rng.normal(size=t.shape))
    return t, t_padded, s, y, np.where(valid, y, -1), valid


@parametrize_cases()
def test_sequence_logits_with_sample_weight_and_mask(case):
    rng = np.random.default_rng(5)
    t, t_padded, s, y, y_padded, valid = _padded_batch(rng)
    term = case.make()
    weights = valid * rng.uniform(0.5, 2.0, size=valid.shape)
    args = (t_padded.astype("float32"), s.astype("float32"), 2.0, y_padded)
    np.testing.assert_allclose(
        _value(term, *args, sample_weight=weights), case.loss(t, s, 2.0, y, weights), rtol=2e-4,
        atol=1e-5,
    )
    expected = case.loss(t, s, 2.0, y, valid.astype("float64"))
    np.testing.assert_allclose(_value(term, *args, mask=valid), expected, rtol=2e-4, atol=1e-5)


@parametrize_cases()
def test_all_masked_batch_gives_zero(case):
    rng = np.random.default_rng(6)
    t = ops.convert_to_tensor(_logits(rng, (BATCH, TIME, CLASSES)), "float32")
    s = _logits(rng, (BATCH, TIME, CLASSES))
    mask = np.zeros((BATCH, TIME), dtype=bool)
    y = _labels(rng, (BATCH, TIME))
    loss, gradient = value_and_gradient(
        lambda s: _value(case.make(), t, s, 2.0, y, mask=mask), s
    )
    assert float(loss) == 0.0
    np.testing.assert_array_equal(gradient, 0.0)


@pytest.fixture(scope="module")
def masked_sequence_models():
    """A teacher and a student whose outputs carry a Keras mask (mask_zero)."""
    keras.utils.set_random_seed(0)

    def model(name):
        return keras.Sequential(
            [
                keras.Input((TIME,), dtype="int32"),
                keras.layers.Embedding(7, 3, mask_zero=True),
                keras.layers.Dense(CLASSES),
            ],
            name=name,
        )

    tokens = np.array([[1, 2, 3, 4], [5, 6, 0, 0], [3, 0, 0, 0], [2, 2, 2, 0]])
    return model("teacher"), model("student"), tokens


@parametrize_cases()
def test_keras_mask_of_the_student_output(case, masked_sequence_models):
    teacher, student, tokens = masked_sequence_models
    distiller = kd.Distiller(teacher=teacher, student=student, distillation_loss_fn=case.make())
    t, s = teacher(tokens), student(tokens)
    assert s._keras_mask is not None
    y = np.random.default_rng(7).integers(0, CLASSES, size=tokens.shape)
    loss = distiller.compute_loss(
        x=tokens, y=y, y_pred=s, teacher_outputs={OUTPUTS: t}, student_outputs={OUTPUTS: s}
    )
    valid = (tokens != 0).astype("float64")
    t, s = (ops.convert_to_numpy(z).astype("float64") for z in (t, s))
    expected = case.loss(t, s, float(distiller.temperature.numpy()), y, valid)
    np.testing.assert_allclose(ops.convert_to_numpy(loss), expected, rtol=2e-4, atol=1e-5)


# ----------------------------------------------------------------------------
# Serialization and training
# ----------------------------------------------------------------------------


@parametrize_cases()
def test_config_round_trip(case):
    term = case.make()
    config = term.get_config()
    restored = type(term).from_config(json.loads(json.dumps(config)))
    assert json.dumps(restored.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    serialized = keras.saving.serialize_keras_object(term)
    assert serialized["registered_name"] == f"keras_distill>{type(term).__name__}"
    again = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
    assert type(again) is type(term) and again.get_config() == config
    if not isinstance(term, TEMPERATURE_FREE):
        overridden = type(term).from_config({**config, "temperature": 2.0})
        assert overridden.temperature == 2.0


@pytest.fixture(scope="module")
def classification_data():
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((3,)), keras.layers.Dense(CLASSES)], name="teacher")
    x = np.random.default_rng(8).normal(size=(8, 3)).astype("float32")
    y = np.arange(8) % CLASSES
    sample_weight = np.array([1.0, 2.0, 0.0, 1.0, 0.5, 1.0, 1.0, 3.0])
    return teacher, x, y, sample_weight


@parametrize_cases(ONE_PER_CLASS)
def test_fit_step_then_save_and_load(case, classification_data, tmp_path):
    teacher, x, y, sample_weight = classification_data
    student = keras.Sequential([keras.Input((3,)), keras.layers.Dense(CLASSES)], name="student")
    distiller = kd.Distiller(teacher=teacher, student=student, distillation_loss_fn=case.make())
    distiller.compile(
        optimizer=keras.optimizers.SGD(0.1),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        temperature=3.0,
        jit_compile=False,  # XLA is covered once, for all losses, in test_multiple_terms.py.
    )
    t = ops.convert_to_numpy(teacher(x)).astype("float64")
    s = ops.convert_to_numpy(student(x)).astype("float64")
    history = distiller.fit(
        x, y, sample_weight=sample_weight, batch_size=8, epochs=1, verbose=0
    ).history
    # The logged term is the one of the weights before the step.
    expected = case.loss(t, s, 3.0, y, sample_weight)
    np.testing.assert_allclose(history["distillation_loss"][0], expected, rtol=2e-4, atol=1e-5)
    assert not np.allclose(ops.convert_to_numpy(student(x)), s)

    path = tmp_path / "distiller.keras"
    distiller.save(path)
    loaded = keras.models.load_model(path)
    [term] = loaded.distillation_loss_fn
    assert type(term) is type(case.make())
    assert term.get_config() == distiller.distillation_loss_fn[0].get_config()
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), ops.convert_to_numpy(student(x)), rtol=1e-6
    )
