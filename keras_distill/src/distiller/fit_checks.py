"""Checks at the start of every `Distiller.fit`, before any step runs.

What would otherwise fail deep inside the first step, or not fail at all:

- an empty dataset;
- labels that are strings (a loss needs numbers);
- NaN or Inf in the inputs (arrays are checked whole; a dataset's first
  batch is, and later batches show up as a NaN `loss`: `distiller/finite.py`);
- cached teacher outputs made by other teacher weights (the cache holds one
  fingerprint for all its batches, so its first batch tells);
- a teacher taken to output logits whose first batch looks like
  probabilities (`teachers/probabilities.py`).

Reading ahead must not change what `fit` then sees. Arrays and a
`PyDataset` are read by index. A `tf.data.Dataset` is read ahead only when
its pipeline has no shuffle or random op, since each new iterator of a
shuffled dataset draws the next order: fit would otherwise train on other
batches than it does unchecked. The exception is cached teacher outputs,
whose fingerprint is always read (a shuffled cache then starts one order
later). A shuffled dataset still gets the checks its `element_spec` and
cardinality allow (string labels, no batches); a Python generator or
iterator gets none.
"""

import keras
import numpy as np

from keras_distill.src.teachers import cached as teacher_cache
from keras_distill.src.teachers import dataset_checks
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import tensorflow as tf

_ARRAY_BATCH = 32  # Keras's default batch size.


def _is_dense(leaf):
    """A NumPy array, a tensor of the backend, or a dense TensorFlow tensor
    (a `tf.data` batch passed to another backend)."""
    if isinstance(leaf, np.ndarray) or keras.ops.is_tensor(leaf):
        return True
    return tf.available and isinstance(leaf, tf.Tensor)


def _to_numpy(leaf):
    """A dense leaf (see `_is_dense`) as a NumPy array."""
    if tf.available and isinstance(leaf, tf.Tensor):
        return np.asarray(leaf)
    return np.asarray(keras.ops.convert_to_numpy(leaf))


def _is_array(data):
    leaves = keras.tree.flatten(data)
    return bool(leaves) and all(_is_dense(leaf) for leaf in leaves)


def _is_cached(spec):
    x, _, _ = keras.utils.unpack_x_y_sample_weight(spec)
    return isinstance(x, dict) and teacher_cache.TEACHER_OUTPUTS in x


def _check_dataset_spec(dataset):
    """The checks of a `tf.data.Dataset` that need no element."""
    if int(dataset.cardinality()) == 0:
        raise _empty(f"<empty {type(dataset).__name__}>")
    _, y, _ = keras.utils.unpack_x_y_sample_weight(dataset.element_spec)
    _check_labels(y)


def _first(data):
    """The first element of a dataset-like, `None` when empty, or the
    string "unreadable" when reading it ahead could change training."""
    if tf.available and isinstance(data, tf.data.Dataset):
        _check_dataset_spec(data)
        shuffles, random_ops = dataset_checks.randomness(data)
        if (shuffles or random_ops) and not _is_cached(data.element_spec):
            return "unreadable"
        for element in data.take(1):
            # Sparse and ragged tensors stay as they are (left unchecked).
            return keras.tree.map_structure(
                lambda t: t.numpy() if isinstance(t, tf.Tensor) else t, element
            )
        return None
    if isinstance(data, keras.utils.PyDataset):
        if data.num_batches == 0:
            return None
        return data[0]
    return "unreadable"


def _is_string(leaf):
    dtype = getattr(leaf, "dtype", None)
    if dtype is None:
        return isinstance(leaf, (str, bytes))
    if getattr(dtype, "name", None) == "string":  # tf.string
        return True
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        return False
    if kind == "O":  # Object arrays: strings only if their items are.
        items = np.ravel(leaf)
        return bool(items.size) and isinstance(items[0], (str, bytes))
    return kind in "US"


def _dtype_name(dtype):
    if getattr(dtype, "name", None) == "string":
        return "string"
    return np.dtype(dtype).str


def _check_labels(y):
    for leaf in keras.tree.flatten(y):
        if _is_string(leaf):
            raise invalid_argument(
                "y",
                f"<string labels of dtype {_dtype_name(leaf.dtype)}>",
                "numeric labels (class indices or one-hot vectors)",
                "Map strings to class indices first, e.g. with "
                "keras.layers.StringLookup(vocabulary=classes, num_oov_indices=0) "
                "in the input pipeline.",
            )


def _check_finite(x, where):
    for leaf in keras.tree.flatten(x):
        if not _is_dense(leaf):
            continue  # Sparse or ragged inputs: nothing to check.
        try:
            array = _to_numpy(leaf)
        except (TypeError, ValueError):
            continue
        if not np.issubdtype(array.dtype, np.floating) or array.size == 0:
            continue
        bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=-1)
        if bad.any():
            raise invalid_argument(
                "x",
                f"<inputs with NaN or Inf in {int(bad.sum())} of {len(array)} "
                f"examples of {where}, the first at index {int(np.argmax(bad))}>",
                "finite inputs",
                "Clean or impute the data before training (NaN inputs make "
                "the student's weights NaN at the first step).",
            )


def _empty(description):
    return invalid_argument(
        "x",
        description,
        "at least one batch of data",
        "Check the filters, `take` or `batch(..., drop_remainder=True)` that "
        "made the dataset, or the arrays' length.",
    )


def check(distiller, x, y=None, batch_size=None):
    """Runs the checks above on what `fit` was given (see module docstring)."""
    if _is_array(x):
        length = len(keras.tree.flatten(x)[0])
        if length == 0:
            raise _empty(f"<arrays of {length} examples>")
        inputs, cached = teacher_cache.split_cached_inputs(x)
        _check_labels(y)
        _check_finite(inputs, "the training data")
        size = batch_size or _ARRAY_BATCH
        first = keras.tree.map_structure(lambda a: a[:size], inputs)
    else:
        element = _first(x)
        if isinstance(element, str):
            return  # A generator: consumed by reading, so not read ahead.
        if element is None:
            raise _empty(f"<empty {type(x).__name__}>")
        x_first, y_first, _ = keras.utils.unpack_x_y_sample_weight(element)
        first, cached = teacher_cache.split_cached_inputs(x_first)
        _check_labels(y_first)
        _check_finite(first, "the first batch")
    if cached is not None:
        fingerprints = _to_numpy(cached[teacher_cache.FINGERPRINT])
        teacher_cache.check_fingerprint(fingerprints, distiller.teacher)
    elif distiller.teacher is not None:
        distiller._teacher_logits.check_outputs(first)
