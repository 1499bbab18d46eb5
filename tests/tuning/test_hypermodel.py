"""Automated distillation on KerasTuner: what a trial builds, and a search
that chooses on validation data and gives back a Distiller."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.distiller import helpers as h

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


def test_a_search_chooses_on_validation_data_and_gives_back_a_distiller(tmp_path):
    x, y = h.data(64, seed=0)
    x_val, y_val = h.data(32, seed=1)
    teachers = _teachers()
    before = [t.get_weights() for t in teachers]
    hypermodel = kd.tuning.DistillationHyperModel(
        teachers, _build_student, losses=[kd.losses.KLDivergence(), kd.losses.DKD()],
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=2, seed=0,
        directory=str(tmp_path), project_name="search",
    )
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=2, batch_size=16, verbose=0)
    trials = tuner.oracle.get_best_trials(2)
    assert len(trials) == 2
    best = tuner.get_best_models(1)[0]
    assert isinstance(best, kd.Distiller)
    logits = best.student.predict(x_val, verbose=0)
    np.testing.assert_allclose(trials[0].score, np.mean(logits.argmax(-1) == y_val), atol=1e-6)
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
