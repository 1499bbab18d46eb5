"""Loss reduction and state creation that stay correct under `tf.distribute`.

Under a `tf.distribute` strategy with R replicas in sync, every replica sees
its own slice of the global batch, and the optimizer *sums* the replicas'
gradients. Keras's convention (`keras.src.losses.loss.
scale_loss_for_distribution`) is that each replica returns its loss divided
by R. That is only right when every replica's loss is already the global
value: a weighted mean `sum(w * v) / sum(w)` over a local slice is not,
whenever the replicas' `sum(w)` differ (sample weights, masks, or a last
batch that does not split evenly).

`weighted_mean` here all-reduces the denominator, so the R replicas' values,
once divided by R and summed (by the gradient all-reduce) or averaged (by
Keras's metric reduction), give exactly the single-device value for the same
global batch. With one replica it is `losses.weighted_mean`.

Nothing here leaves the device: the all-reduce is a collective op of the
step's graph (no host round trip), so it also runs under `TPUStrategy` and
inside XLA.
"""

import contextlib

import keras
from keras import ops

from keras_distill.src.losses.reduction import weighted_sum_and_total
from keras_distill.src.utils import keras_compat


def _replica_context():
    """The TF replica context when more than one replica is in sync."""
    if keras.backend.backend() != "tensorflow":
        return None  # JAX/torch distribution works on global arrays.
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def num_replicas_in_sync():
    """Number of replicas that share a step (1 outside `tf.distribute`)."""
    context = _replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def cross_replica_sum(value):
    """Sums `value` over the replicas in sync; identity with one replica."""
    context = _replica_context()
    if context is None:
        return value
    import tensorflow as tf

    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def weighted_mean(values, sample_weight=None, mask=None):
    """This replica's share of the global-batch weighted mean, times R.

    Returns `R * sum_local(w * v) / sum_global(w)`: the mean of this value
    over the R replicas is the weighted mean over the global batch, the
    value one device computes for the same batch.

    Args:
        values: Per-example values of this replica's slice of the batch.
        sample_weight: Optional weights, as for `losses.weighted_mean`.
        mask: Optional mask, as for `losses.weighted_mean`.

    Returns:
        A float32 scalar.
    """
    weighted_sum, total = weighted_sum_and_total(values, sample_weight, mask)
    replicas = num_replicas_in_sync()
    if replicas == 1:
        return ops.divide_no_nan(weighted_sum, total)
    total = cross_replica_sum(ops.stop_gradient(total))
    return ops.divide_no_nan(weighted_sum * float(replicas), total)


def mean_batch_size(outputs):
    """The weight for a `keras.metrics.Mean` tracker of a loss value.

    Keras sums metric state over replicas at the end of an epoch. With
    values from `weighted_mean` (whose mean over replicas is the global
    value), weighting each replica by the global batch size divided by R
    makes that sum equal the single-device one, even when the last batch
    splits unevenly (e.g. 5 examples as 3 + 2).
    """
    local = ops.shape(keras.tree.flatten(outputs)[0])[0]
    local = ops.cast(local, "float32")
    replicas = num_replicas_in_sync()
    if replicas == 1:
        return local
    return cross_replica_sum(local) / float(replicas)


def is_multi_worker(strategy):
    """True for a `MultiWorkerMirroredStrategy` spanning several workers."""
    if strategy is None or keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ) and keras_compat.in_multi_worker_mode(strategy)


def step_logs(logs):
    """Logs of a step, shaped so that `fit` can reduce them over workers.

    Keras 3 averages step outputs across workers with
    `strategy.reduce("MEAN", value, axis=0)`, which rejects scalars; each
    value becomes a vector of one element (again keras-team/keras#20585).
    Unchanged outside multi-worker training.
    """
    if keras.backend.backend() != "tensorflow":
        return logs
    import tensorflow as tf

    if not is_multi_worker(tf.distribute.get_strategy()):
        return logs
    return {name: ops.reshape(value, (1,)) for name, value in logs.items()}


def first_local_batch(strategy, epoch_iterator):
    """The first batch of this worker's first replica, as plain tensors.

    Keras 3 reduces the first distributed batch with `strategy.reduce`,
    which fails under `MultiWorkerMirroredStrategy`
    (https://github.com/keras-team/keras/issues/20585); the batch is only
    used to build the model, so one replica's slice serves as well.
    """
    import tensorflow as tf

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    for _, _, iterator in epoch_iterator:
        return keras.tree.map_structure(local, next(iterator))
    return None


def strategy_scope(model):
    """The scope of the strategy `model` was built under, for new state.

    Variables a `Distiller` creates after construction (in `compile`) must
    be mirrored like the ones created in `__init__`, even when `compile` is
    called outside `strategy.scope()`.
    """
    strategy = keras_compat.distribute_strategy(model)
    if strategy is None:
        return contextlib.nullcontext()
    return strategy.scope()
