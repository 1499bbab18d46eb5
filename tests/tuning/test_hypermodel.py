"""Automated distillation on KerasTuner: what a trial builds, and a search
that chooses on validation data and gives back a Distiller."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.distiller import helpers as h
from tests.tuning.helpers import objects_frozen_for_gc

keras_tuner = pytest.importorskip("keras_tuner")


def _build_student(hp):
    keras.utils.set_random_seed(3)
    units = hp.Int("units", 4, 12, step=4)
    return keras.Sequential([keras.Input((h.NUM_FEATURES,)), keras.layers.Dense(units, "relu"),
                             keras.layers.Dense(h.NUM_CLASSES)], name="student")


def _teachers():
    return [h.mlp(16, "teacher_a", seed=1), h.mlp(16, "teacher_b", seed=2)]


def _hypermodel(**kwargs):
    kwargs.setdefault("losses", [kd.losses.KLDivergence(), kd.losses.DKD()])
    return kd.tuning.DistillationHyperModel(_teachers(), _build_student, **kwargs)


def test_a_trial_builds_the_distiller_its_hyperparameters_say():
    hypermodel = _hypermodel()
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    assert {p.name for p in hp.space} == {
        "teacher", "distillation_loss", "temperature", "alpha", "units"
    }
    for name, value in [("teacher", "teacher_b"), ("distillation_loss", "dkd"),
                        ("temperature", 8.0), ("alpha", 0.9), ("units", 12)]:
        hp.values[name] = value
    distiller = hypermodel.build(hp)
    assert isinstance(distiller, kd.Distiller) and distiller.compiled
    assert distiller.teacher.name == "teacher_b"
    assert isinstance(distiller.distillation_loss_fn[0], kd.losses.DKD)
    assert float(distiller.temperature) == 8.0
    assert float(distiller.alpha) == pytest.approx(0.9)
    assert distiller.student.layers[0].units == 12


def test_one_value_fixes_a_hyperparameter():
    hypermodel = _hypermodel(losses=kd.losses.KLDivergence(), temperatures=4, alphas=[0.5])
    hp = keras_tuner.HyperParameters()
    distiller = hypermodel.build(hp)
    assert float(distiller.temperature) == 4.0
    fixed = {p.name for p in hp.space if isinstance(p, keras_tuner.engine.hyperparameters.Fixed)}
    assert fixed == {"distillation_loss", "temperature", "alpha"}


def _digits_teacher(x, y, units, seed):
    """A small MLP teacher trained on the digits' training split."""
    keras.utils.set_random_seed(seed)
    teacher = keras.Sequential([keras.Input((64,)), keras.layers.Dense(units, "relu"),
                                keras.layers.Dense(10)], name=f"teacher_{units}")
    teacher.compile(keras.optimizers.Adam(1e-2),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=5, batch_size=64, verbose=0)
    return teacher


def test_a_search_on_digits_chooses_on_validation_data_and_gives_back_a_distiller(tmp_path):
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    images, labels = (images / 16.0).astype("float32"), labels.astype("int32")
    (x, y), (x_val, y_val) = (images[:1200], labels[:1200]), (images[1200:], labels[1200:])
    teachers = [_digits_teacher(x, y, 32, seed=1), _digits_teacher(x, y, 64, seed=2)]
    before = [t.get_weights() for t in teachers]

    def build_student(hp):
        return keras.Sequential([keras.Input((64,)),
                                 keras.layers.Dense(hp.Int("units", 4, 16, step=4), "relu"),
                                 keras.layers.Dense(10)], name="student")

    hypermodel = kd.tuning.DistillationHyperModel(
        teachers, build_student, losses=[kd.losses.KLDivergence(), kd.losses.DKD()],
        learning_rates=[3e-3, 1e-2],
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=3, seed=0,
        directory=str(tmp_path), project_name="search",
    )
    with objects_frozen_for_gc():
        tuner.search(x, y, validation_data=(x_val, y_val), epochs=3, batch_size=32, verbose=0)
        best = tuner.get_best_models(1)[0]
    trials = tuner.oracle.get_best_trials(3)
    assert len(trials) == 3
    assert [t.score for t in trials] == sorted((t.score for t in trials), reverse=True)
    assert isinstance(best, kd.Distiller)
    assert best.teacher.name == trials[0].hyperparameters.values["teacher"]
    assert best.student.layers[0].units == trials[0].hyperparameters.values["units"]
    # The score is the best student's accuracy on the validation split, not
    # on the training data.
    def accuracy(x, y):
        logits = keras.ops.convert_to_numpy(best.student(x, training=False))
        return np.mean(logits.argmax(-1) == y)

    np.testing.assert_allclose(trials[0].score, accuracy(x_val, y_val), atol=1e-6)
    assert trials[0].score != accuracy(x, y)
    assert trials[0].score > 0.5  # Chance is 0.1.
    for teacher, weights in zip(teachers, before):
        for a, b in zip(teacher.get_weights(), weights):
            np.testing.assert_array_equal(a, b)


def test_a_candidate_may_be_several_terms_trained_together():
    hypermodel = _hypermodel(losses=[
        kd.losses.KLDivergence(), [kd.losses.KLDivergence(standardize=True), kd.losses.DIST()],
    ])
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    assert hp.space[1].values == ["kl_divergence", "kl_divergence+dist"]
    hp.values["distillation_loss"] = "kl_divergence+dist"
    first, second = hypermodel.build(hp), hypermodel.build(hp)
    terms = first.distillation_loss_fn
    assert [type(term) for term in terms] == [kd.losses.KLDivergence, kd.losses.DIST]
    assert terms[0].standardize
    assert terms[0] is not second.distillation_loss_fn[0]
    x, y = h.data(16, seed=0)
    history = first.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_what_cannot_be_built_is_refused_at_construction():
    with pytest.raises(ValueError, match="build_student"):
        kd.tuning.DistillationHyperModel(_teachers()[0], build_student=None)
    with pytest.raises(ValueError, match="losses"):
        kd.tuning.DistillationHyperModel(_teachers()[0], _build_student, losses=["kl"])
    with pytest.raises(ValueError, match="losses"):
        kd.tuning.DistillationHyperModel(_teachers()[0], _build_student, losses={"kl": "kl"})
    with pytest.raises(ValueError, match="temperatures"):
        kd.tuning.DistillationHyperModel(_teachers()[0], _build_student, temperatures=[])


def test_the_default_student_loss_reads_logits_and_is_fresh_per_trial():
    hypermodel = _hypermodel()
    hp = keras_tuner.HyperParameters()
    first, second = hypermodel.build(hp), hypermodel.build(hp)
    loss = first.student_loss_fn
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    assert loss.get_config()["from_logits"] is True
    assert loss is not second.student_loss_fn
