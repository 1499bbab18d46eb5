"""A schedule that returns an invalid value stops training, naming step and value."""

import keras
import numpy as np
import pytest
from keras import ops


def _linear(start, slope):
    """`step -> start + slope * step`, a plain callable schedule."""
    return lambda step: start + slope * ops.cast(step, "float32")


def _fit(distiller, data, callbacks=()):
    x, y = data
    distiller.fit(
        x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=list(callbacks)
    )


@pytest.mark.parametrize(
    "compile_kwargs", [{}, {"jit_compile": True}, {"run_eagerly": True}],
    ids=["tf_function", "xla", "eager"],
)
def test_non_positive_temperature_stops_at_its_step(
    make_distiller, data, recorder, compile_kwargs
):
    distiller = make_distiller(
        temperature=_linear(1.5, -0.5), compile_kwargs=compile_kwargs
    )
    message = r"`temperature` .* for step=3\. Received: temperature=0\.0\. Expected a finite number"
    with pytest.raises(ValueError, match=message):
        _fit(distiller, data, [recorder])
    assert len(recorder.losses) == 3
    assert float(distiller.temperature) == pytest.approx(0.5)  # The last valid value.
    if not compile_kwargs.get("jit_compile"):
        # The invalid step never ran: the weights are those before step 3.
        for got, before in zip(distiller.student.get_weights(), recorder.weights[3]):
            np.testing.assert_array_equal(got, before)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"alpha": keras.optimizers.schedules.PiecewiseConstantDecay([1], [0.5, 1.5])},
            r"`alpha` .* for step=2\. Received: alpha=1\.5\. Expected a finite number in \[0, 1\]",
        ),
        (
            {"distillation_loss_weights": [_linear(1.0, -0.5)]},
            r"`kl_divergence_weight` .* for step=3\. Received: kl_divergence_weight=-0\.5",
        ),
        (
            {"temperature": lambda step: ops.where(step < 1, 2.0, float("nan"))},
            r"`temperature` .* for step=1\. Received: temperature=nan",
        ),
    ],
    ids=["alpha_above_one", "negative_weight", "nan_temperature"],
)
def test_invalid_scheduled_values_stop_training(make_distiller, data, kwargs, message):
    distiller = make_distiller(**kwargs)
    with pytest.raises(ValueError, match=message):
        _fit(distiller, data)


def test_invalid_value_at_step_zero_is_rejected_at_construction(make_distiller):
    with pytest.raises(ValueError, match=r"Received: temperature=-1\.0\. Expected a finite"):
        make_distiller(temperature=lambda step: -1.0 + ops.cast(step, "float32"))
