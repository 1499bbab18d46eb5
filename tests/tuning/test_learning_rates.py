"""The learning rate as a searched hyperparameter of the HyperModel."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.distiller import helpers as h

keras_tuner = pytest.importorskip("keras_tuner")


def _build_student(hp):
    return h.mlp(8, "student", seed=3)


def _hypermodel(**kwargs):
    return kd.tuning.DistillationHyperModel(
        h.mlp(16, "teacher", seed=1), _build_student, losses=kd.losses.KLDivergence(),
        temperatures=2.0, alphas=0.5, **kwargs)


def _schedule(optimizer):
    return keras.optimizers.schedules.deserialize(optimizer.get_config()["learning_rate"])


def _built(hypermodel, **values):
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    hp.values.update(values)
    return hypermodel.build(hp), hp


def test_a_trial_sets_the_initial_rate_of_the_optimizers_schedule():
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=40, alpha=0.1)
    hypermodel = _hypermodel(optimizer=keras.optimizers.Adam(schedule, beta_1=0.8),
                             learning_rates=[1e-3, 4e-3])
    distiller, hp = _built(hypermodel, learning_rate=4e-3)
    assert hp.space[-1].name == "learning_rate" and hp.space[-1].values == [1e-3, 4e-3]
    optimizer = distiller.optimizer
    assert optimizer.beta_1 == 0.8
    # The schedule's other settings are kept: its value at step 20 of 40 is
    # cosine decay from 4e-3 to 0.1 * 4e-3, half way.
    trained = optimizer.learning_rate  # Step 0.
    np.testing.assert_allclose(float(trained), 4e-3, rtol=1e-6)
    np.testing.assert_allclose(float(_schedule(optimizer)(20)), 4e-3 * (0.1 + 0.9 * 0.5),
                               rtol=1e-6)
    # The hypermodel's own optimizer is left as it was.
    assert _schedule(hypermodel.optimizer).initial_learning_rate == 1e-3


def test_a_schedule_that_warms_up_gets_the_rate_as_its_peak():
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=40, warmup_target=1e-3, warmup_steps=10)
    hypermodel = _hypermodel(optimizer=keras.optimizers.Adam(schedule), learning_rates=[4e-3])
    searched = _schedule(_built(hypermodel)[0].optimizer)
    assert (searched.initial_learning_rate, searched.warmup_target) == (0.0, 4e-3)
    np.testing.assert_allclose(float(searched(10)), 4e-3, rtol=1e-6)  # The end of the warmup.


def test_a_trial_sets_a_plain_rate_and_training_uses_it():
    hypermodel = _hypermodel(optimizer="sgd", learning_rates=[0.5, 0.05])
    x, y = h.data(16, seed=0)
    steps = {}
    for rate in (0.5, 0.05):
        distiller, _ = _built(hypermodel, learning_rate=rate)
        np.testing.assert_allclose(float(distiller.optimizer.learning_rate), rate, rtol=1e-6)
        before = distiller.student.get_weights()
        distiller.fit(x, y, epochs=1, batch_size=16, verbose=0)
        steps[rate] = [a - b for a, b in zip(distiller.student.get_weights(), before)]
    # One plain SGD step from the same weights and batch: the update is
    # proportional to the learning rate (to float32's resolution of weights
    # near 1, about 1e-7, times 10).
    for big, small in zip(steps[0.5], steps[0.05]):
        np.testing.assert_allclose(big, 10 * small, rtol=1e-4, atol=2e-6)


def test_without_learning_rates_the_optimizer_is_unchanged_and_not_searched():
    distiller, hp = _built(_hypermodel(optimizer=keras.optimizers.Adam(2e-3)))
    assert "learning_rate" not in {p.name for p in hp.space}
    np.testing.assert_allclose(float(distiller.optimizer.learning_rate), 2e-3, rtol=1e-6)


def test_rates_that_cannot_be_searched_are_refused_at_construction():
    with pytest.raises(ValueError, match="learning_rates=.*positive numbers"):
        _hypermodel(learning_rates=[1e-3, 0.0])
    with pytest.raises(ValueError, match="learning_rates"):
        _hypermodel(learning_rates=["fast"])
    wrapped = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam())
    with pytest.raises(ValueError, match=r"`optimizer`.*LossScaleOptimizer.*inner optimizer"):
        _hypermodel(optimizer=wrapped, learning_rates=[1e-3])
    piecewise = keras.optimizers.schedules.PiecewiseConstantDecay([10], [1e-2, 1e-3])
    with pytest.raises(ValueError, match=r"`optimizer`.*PiecewiseConstantDecay.*initial_learning"):
        _hypermodel(optimizer=keras.optimizers.SGD(piecewise), learning_rates=[1e-3])
