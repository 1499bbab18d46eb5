"""Every loss as one term of a single Distiller, trained with XLA (the default)."""

import keras
import numpy as np
from keras import ops

import keras_distill as kd
from tests.losses.test_conformance import CLASSES
from tests.losses.test_conformance import ONE_PER_CLASS


def _models():
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((3,)), keras.layers.Dense(CLASSES)], name="teacher")
    student = keras.Sequential([keras.Input((3,)), keras.layers.Dense(CLASSES)], name="student")
    return teacher, student


def test_every_loss_as_a_weighted_term_under_xla():
    teacher, student = _models()
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.arange(8) % CLASSES
    sample_weight = np.array([1.0, 0.0, 2.0, 1.0, 1.0, 0.5, 1.0, 1.0])
    terms = [case.make() for case in ONE_PER_CLASS]
    weights = [0.5 + index for index in range(len(terms))]
    distiller = kd.Distiller(
        teacher=teacher,
        student=student,
        distillation_loss_fn=terms,
        distillation_loss_weights=weights,
    )
    distiller.compile(
        optimizer=keras.optimizers.SGD(0.0),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        temperature=2.0,
        jit_compile=True,
    )
    logs = distiller.fit(x, y, sample_weight=sample_weight, batch_size=8, verbose=0).history
    t = ops.convert_to_numpy(teacher(x)).astype("float64")
    s = ops.convert_to_numpy(student(x)).astype("float64")
    total = 0.0
    for case, term, weight in zip(ONE_PER_CLASS, terms, weights):
        expected = case.loss(t, s, 2.0, y, sample_weight)
        np.testing.assert_allclose(logs[term.name][0], expected, rtol=2e-4, atol=1e-5)
        total += weight * expected
    np.testing.assert_allclose(logs["distillation_loss"][0], total, rtol=2e-4)


def test_kl_and_dkd_weighted_by_compile():
    teacher, student = _models()
    x = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
    y = np.arange(8) % CLASSES
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer="adam",
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=[kd.losses.KLDivergence(), kd.losses.DKD()],
        distillation_loss_weights=[1.0, 0.5],
        jit_compile=False,
    )
    history = distiller.fit(x, y, batch_size=4, epochs=2, verbose=0).history
    for key in ("kl_divergence", "dkd", "distillation_loss"):
        assert len(history[key]) == 2 and np.all(np.isfinite(history[key]))
    # Epoch means of the terms add up with their weights.
    np.testing.assert_allclose(
        history["distillation_loss"],
        np.array(history["kl_divergence"]) + 0.5 * np.array(history["dkd"]),
        rtol=1e-5,
    )


def test_token_level_terms_skip_padding_through_the_keras_mask_in_fit():
    keras.utils.set_random_seed(0)

    def sequence_model(name):
        return keras.Sequential(
            [
                keras.Input((4,), dtype="int32"),
                keras.layers.Embedding(7, 3, mask_zero=True),
                keras.layers.Dense(CLASSES),
            ],
            name=name,
        )

    teacher, student = sequence_model("teacher"), sequence_model("student")
    tokens = np.array([[1, 2, 3, 4], [5, 6, 0, 0], [3, 0, 0, 0], [2, 2, 2, 0]])
    labels = np.random.default_rng(2).integers(0, CLASSES, size=tokens.shape)
    cases = [case for case in ONE_PER_CLASS if case.id in ("KLDivergence", "DKD", "DIST")]
    distiller = kd.Distiller(
        teacher=teacher, student=student, distillation_loss_fn=[c.make() for c in cases]
    )
    distiller.compile(optimizer=keras.optimizers.SGD(0.0), temperature=2.0, jit_compile=False)
    logs = distiller.fit(tokens, labels, batch_size=4, verbose=0).history
    t = ops.convert_to_numpy(teacher(tokens)).astype("float64")
    s = ops.convert_to_numpy(student(tokens)).astype("float64")
    valid = (tokens != 0).astype("float64")
    for case, term in zip(cases, distiller.distillation_loss_fn):
        expected = case.loss(t, s, 2.0, labels, valid)
        np.testing.assert_allclose(logs[term.name][0], expected, rtol=2e-4, atol=1e-5)
