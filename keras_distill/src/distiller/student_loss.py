"""The hard-label loss of the student: one loss, or one per output.

`student_loss_fn` (alias `loss`) takes what `keras.Model.compile(loss=...)`
takes: a loss, a dict `{output_name: loss}` or a list with one loss per
output (`None` leaves an output without a hard-label loss), with
`loss_weights` as a dict or a list. The value is
`sum_k weight_k * mean_k`, where `mean_k` is output k's per-example loss
averaged with that output's sample weights and masks (the prediction's Keras
mask, and a loss's own mask such as `ignore_class`), as `Model.compile` does.

The student's own losses (`kernel_regularizer`, `activity_regularizer`,
`add_loss`) are a separate sum, `regularization_loss`, added to the total
once, not weighted by `alpha`, as `keras.Model.fit` adds them.

A cross-entropy on probabilities (`from_logits=False`, the default of the
Keras classes and of names such as `"sparse_categorical_crossentropy"`)
given an output that a linear layer makes (a `Dense` without activation:
logits) would train on clipped logits without an error; it is refused. A
Distiller saved with one still loads (with a warning), so that its student
can be taken out or it can be compiled again.
"""

import contextlib
import threading
import warnings

import keras
from keras import ops

from keras_distill.src.distiller import outputs as outputs_lib
from keras_distill.src.distiller import replicas
from keras_distill.src.losses.keras_loss import per_example_loss
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import get_keras_mask
from keras_distill.src.utils.keras_compat import graph_of
from keras_distill.src.utils.keras_compat import output_layers
from keras_distill.src.utils.validation import check_hyperparameter


def _get(loss):
    return None if loss is None else keras.losses.get(loss)


def _weights(loss_weights, entries, outputs):
    if loss_weights is None:
        return [1.0] * len(entries)
    if isinstance(loss_weights, dict):
        names = [n for _, n, _ in entries] if outputs is None else [n for _, n in outputs]
        known = set(names) | {key for key, _, _ in entries}
        unknown = sorted(str(k) for k in loss_weights if k not in known)
        if unknown:
            raise invalid_argument(
                "loss_weights",
                loss_weights,
                f"keys among the student's outputs: {names}",
            )
        weights = [
            loss_weights.get(name, loss_weights.get(key, 1.0)) for key, name, _ in entries
        ]
    elif isinstance(loss_weights, (list, tuple)) and len(loss_weights) == len(entries):
        weights = list(loss_weights)
    else:
        raise invalid_argument(
            "loss_weights",
            loss_weights,
            f"a dict {{output_name: weight}} or a list of {len(entries)} numbers, "
            "one per output",
        )
    return [check_hyperparameter(weight, "weight", "loss_weights") for weight in weights]


class StudentLoss:
    """The student's hard-label loss: one loss, or one per output.

    Args:
        loss_fn: A Keras loss (instance, function or name), a dict
            `{output: loss}`, a list with one loss per output, or `None`.
        loss_weights: A dict or list of floats, one per output; only with a
            dict or list `loss_fn`.
        student: The student model (its output names).
    """

    def __init__(self, loss_fn, loss_weights=None, student=None):
        self.loss_fn = loss_fn
        self.loss_weights = loss_weights
        if isinstance(loss_fn, (dict, list, tuple)):
            outputs = outputs_lib.model_outputs(student)
            entries = [
                (key, name, _get(loss))
                for key, name, loss in outputs_lib.output_entries(
                    loss_fn, outputs, "student_loss_fn"
                )
            ]
            # Weights are given per output (as Model.compile takes them),
            # also for the outputs whose loss is None.
            weights = _weights(loss_weights, entries, outputs)
            kept = [i for i, entry in enumerate(entries) if entry[2] is not None]
            self.entries = [entries[i] for i in kept]
            self.weights = [weights[i] for i in kept]
            if not self.entries:
                raise invalid_argument(
                    "student_loss_fn",
                    loss_fn,
                    "a loss for at least one output",
                    "None skips an output; pass student_loss_fn=None for no "
                    "hard-label loss at all.",
                )
        elif loss_weights is not None:
            raise invalid_argument(
                "loss_weights",
                loss_weights,
                "None for a single student loss",
                "Weigh the student loss against distillation with `alpha`; "
                "loss_weights weighs the losses of a multi-output student.",
            )
        else:
            loss = _get(loss_fn)
            self.entries = [] if loss is None else [(None, None, loss)]
            self.weights = [1.0] * len(self.entries)

    def __bool__(self):
        return bool(self.entries)

    @property
    def per_output(self):
        """Whether the loss is given per output (logged per output)."""
        return isinstance(self.loss_fn, (dict, list, tuple)) and len(self.entries) > 1

    @property
    def names(self):
        """The names of the outputs with a loss, in order."""
        return [name for _, name, _ in self.entries]

    def values(self, y, y_pred, sample_weight):
        """Each output's weighted mean loss (a float32 scalar), in order."""
        means = []
        for key, _, loss in self.entries:
            prediction = outputs_lib.select(y_pred, key)
            values = per_example_loss(
                loss, outputs_lib.select(y, key), prediction
            )
            mask = get_keras_mask(prediction)
            # A loss may mask its own values (e.g. `ignore_class`), as Keras's
            # Loss.__call__ honours: combine that with the prediction mask.
            loss_mask = get_keras_mask(values)
            if loss_mask is not None and mask is not None:
                mask = ops.logical_and(ops.cast(loss_mask, "bool"), ops.cast(mask, "bool"))
            elif loss_mask is not None:
                mask = loss_mask
            means.append(
                replicas.weighted_mean(values, outputs_lib.select(sample_weight, key), mask)
            )
        return means

    def total(self, means):
        """`sum_k weight_k * mean_k`."""
        total = ops.zeros((), "float32")
        for weight, mean in zip(self.weights, means):
            total += weight * mean
        return total

    def get_config(self):
        """`{"student_loss_fn": ..., "loss_weights": ...}`, serialized."""
        return {
            "student_loss_fn": _map_losses(self.loss_fn, _serialize),
            "loss_weights": self.loss_weights,
        }


def _serialize(loss):
    return keras.saving.serialize_keras_object(_get(loss))


def _map_losses(loss_fn, function):
    """`function` applied to each loss of a loss, dict or list (None kept).
    A serialized loss is a dict with a `class_name`: one loss, not a dict."""
    if isinstance(loss_fn, dict) and "class_name" not in loss_fn:
        return {key: _map_losses(loss, function) for key, loss in loss_fn.items()}
    if isinstance(loss_fn, (list, tuple)):
        return [_map_losses(loss, function) for loss in loss_fn]
    return None if loss_fn is None else function(loss_fn)


def deserialize(config):
    """The `student_loss_fn` of a `StudentLoss.get_config()`."""
    return _map_losses(config, keras.saving.deserialize_keras_object)


# Cross-entropies whose `from_logits` defaults to False, as classes and as
# the functions that names such as "sparse_categorical_crossentropy" give.
_ON_PROBABILITIES = (
    keras.losses.SparseCategoricalCrossentropy, keras.losses.CategoricalCrossentropy,
    keras.losses.BinaryCrossentropy, keras.losses.CategoricalFocalCrossentropy,
    keras.losses.BinaryFocalCrossentropy,
)
_FUNCTIONS_ON_PROBABILITIES = (
    keras.losses.sparse_categorical_crossentropy, keras.losses.categorical_crossentropy,
    keras.losses.binary_crossentropy, keras.losses.categorical_focal_crossentropy,
    keras.losses.binary_focal_crossentropy,
)


def _on_probabilities(loss):
    if isinstance(loss, _ON_PROBABILITIES):
        return not loss.get_config().get("from_logits", False)
    return any(loss is function for function in _FUNCTIONS_ON_PROBABILITIES)


_loading = threading.local()


@contextlib.contextmanager
def loading():
    """Within it (`Distiller.from_config`, `compile_from_config`), a loss
    that `check_logits_outputs` refuses only warns."""
    previous, _loading.active = getattr(_loading, "active", False), True
    try:
        yield
    finally:
        _loading.active = previous


def _layer_making(student, made_by, key):
    """The layer (of `made_by`, `{id(output tensor): layer}`) that makes the
    student's output `key`, or None when it is not one layer's output."""
    try:
        tensors = keras.tree.flatten(
            outputs_lib.select(outputs_lib.output_structure(student), key))
    except (KeyError, IndexError, TypeError):
        return None  # Not an output by that key: StudentLoss's own checks say so.
    return made_by.get(id(tensors[0])) if len(tensors) == 1 else None


def check_logits_outputs(student_loss, student):
    """Raises when a cross-entropy on probabilities is given an output of
    `student` that a layer with a linear activation makes (logits).
    Outputs made otherwise (a softmax, a nested model, a custom layer) are
    left alone."""
    entries = [entry for entry in student_loss.entries if _on_probabilities(entry[2])]
    graph = graph_of(student) if entries else None
    if graph is None:
        return
    made_by = {id(tensor): layer for layer, tensor in output_layers(graph)}
    for key, name, loss in entries:
        layer = _layer_making(student, made_by, key)
        if getattr(layer, "activation", None) is not keras.activations.linear:
            continue
        where = "" if name is None else f" for output '{name}'"
        error = invalid_argument(
            "student_loss_fn",
            f"{getattr(loss, '__name__', type(loss).__name__)} (from_logits=False){where}",
            f"a loss on logits: the student '{student.name}' outputs logits (its layer "
            f"'{layer.name}' has no activation)",
            "Pass keras.losses.SparseCategoricalCrossentropy(from_logits=True) (or the "
            "cross-entropy you use with from_logits=True), or end the student in "
            "keras.layers.Activation('softmax') to train on probabilities.",
        )
        if getattr(_loading, "active", False):
            warnings.warn(str(error), stacklevel=2)
            continue
        raise error


def regularization_loss(layers):
    """The sum of the layers' own losses (`kernel_regularizer`,
    `activity_regularizer`, `add_loss`) as Keras's `Model.fit` adds them,
    float32 (0 when there are none)."""
    total = ops.zeros((), "float32")
    for layer in layers:
        for loss in layer.losses:
            total += ops.sum(ops.cast(loss, "float32"))
    return total
