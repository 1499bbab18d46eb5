"""Reduction of per-example loss values with sample weights and masks."""

from keras import ops


def _align(weights, values):
    """Broadcasts `weights` to the rank of `values` (squeeze or expand)."""
    weights = ops.cast(weights, "float32")
    while len(weights.shape) > len(values.shape) and weights.shape[-1] == 1:
        weights = ops.squeeze(weights, axis=-1)
    while len(weights.shape) < len(values.shape):
        weights = ops.expand_dims(weights, axis=-1)
    return weights


def weighted_mean(values, sample_weight=None, mask=None):
    """Mean of per-example `values`, weighted by `sample_weight` and `mask`.

    The result is `sum(w * v) / sum(w)` where `w = sample_weight * mask`
    broadcast to `values`. An example (or time step) of weight 0 is removed
    from both sums, so it contributes nothing, even if its value is NaN. When
    every weight is 0 the result is 0, not NaN.

    Args:
        values: Tensor of shape `(batch,)` or `(batch, time, ...)`.
        sample_weight: Optional tensor broadcastable to `values`, e.g.
            `(batch,)`, `(batch, 1)` or `(batch, time)`.
        mask: Optional boolean or 0/1 tensor broadcastable to `values`.

    Returns:
        A float32 scalar.
    """
    weighted_sum, total = weighted_sum_and_total(values, sample_weight, mask)
    return ops.divide_no_nan(weighted_sum, total)


def weighted_sum_and_total(values, sample_weight=None, mask=None):
    """The numerator `sum(w * v)` and denominator `sum(w)` of `weighted_mean`.

    Kept apart so that a distributed step can sum the denominator over
    replicas (see `keras_distill.src.distiller.replicas`). A scalar `values`
    counts as one example of weight 1.

    Returns:
        Two float32 scalars.
    """
    values = ops.cast(values, "float32")
    if len(values.shape) == 0:
        return values, ops.ones((), dtype="float32")
    weights = combined_weights(values, sample_weight, mask)
    if weights is None:
        return ops.sum(values), ops.cast(ops.size(values), "float32")
    weighted = ops.where(weights != 0, values * weights, ops.zeros_like(values))
    return ops.sum(weighted), ops.sum(weights)


def combined_weights(values, sample_weight=None, mask=None):
    """`sample_weight * mask` as float32, broadcast to the shape of `values`.

    Returns `None` when both are `None`. Terms with batch statistics (DIST)
    use it to weigh positions exactly as `weighted_mean` will.
    """
    weights = None
    if sample_weight is not None:
        weights = _align(sample_weight, values)
    if mask is not None:
        mask = _align(mask, values)
        weights = mask if weights is None else weights * mask
    if weights is None:
        return None
    return ops.broadcast_to(weights, ops.shape(values))
