"""Non-finite training, made visible in the logged `loss`.

A NaN can reach the student's weights while the loss of that step stays
finite: the loss is computed before the update, and a NaN gradient (a NaN
input, `sqrt` at 0, an overflowing term) only shows in the next forward
pass, or never when it was the last step. After each update the Distiller
checks that the student's outputs and trainable weights are finite and, if
any is not, makes the step's logged `loss` NaN, so that
`keras.callbacks.TerminateOnNaN` stops training at that step.
"""

import keras
from keras import ops


def all_finite(tensors):
    """A boolean scalar: every value of every tensor is finite."""
    finite = ops.convert_to_tensor(True)
    for tensor in tensors:
        if tensor is None:
            continue
        dtype = keras.backend.standardize_dtype(tensor.dtype)
        if not dtype.startswith(("float", "bfloat")):
            continue
        finite = ops.logical_and(finite, ops.all(ops.isfinite(tensor)))
    return finite


def mark_loss(loss_tracker, finite):
    """Makes `loss_tracker` (a `keras.metrics.Mean`) NaN unless `finite`.

    Adds `0` (finite) or `NaN` with weight 0: the mean's total becomes NaN
    (`NaN * 0`), its count is unchanged.
    """
    marker = ops.where(finite, 0.0, float("nan"))
    loss_tracker.update_state(marker, sample_weight=0.0)
