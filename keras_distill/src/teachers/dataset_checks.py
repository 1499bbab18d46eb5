"""Checks on the dataset a teacher cache is built from."""

import hashlib
import warnings

import numpy as np

from keras_distill.src.utils import keras_compat
from keras_distill.src.utils import validation
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import tensorflow as tf

# Op names (substrings) that draw random numbers inside a tf.data function.
_RANDOM_OPS = (
    "Random",
    "Rng",
    "Multinomial",
    "TruncatedNormal",
    "StatefulUniform",
    "StatefulStandardNormal",
)


def as_dataset(data, batch_size):
    """A batched `tf.data.Dataset` from a dataset, or arrays (not shuffled)."""
    if isinstance(data, tf.data.Dataset):
        return data
    if isinstance(data, list):
        data = tuple(data)
    if isinstance(data, (np.ndarray, tuple, dict)) or tf.is_tensor(data):
        validation.check_count(batch_size, "batch_size")
        return tf.data.Dataset.from_tensor_slices(data).batch(batch_size)
    raise invalid_argument(
        "dataset",
        type(data).__name__,
        "a batched tf.data.Dataset, a NumPy array, or a tuple/dict of arrays "
        "(x,), (x, y) or (x, y, sample_weight)",
        "Wrap other data with tf.data.Dataset.from_tensor_slices(...).batch(n).",
    )


def finite_cardinality(dataset):
    """The dataset's number of batches (-2 when unknown); raises if infinite."""
    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise invalid_argument(
            "dataset",
            "<infinite tf.data.Dataset>",
            "a finite dataset (one pass is cached)",
            "Remove `.repeat()` before caching; repeat the cached dataset instead.",
        )
    return cardinality


def _walk(dataset):
    yield dataset
    for child in keras_compat.dataset_inputs(dataset):
        yield from _walk(child)


def _function_ops(dataset):
    names = set()
    for wrapper in keras_compat.dataset_functions(dataset):
        graph_def = wrapper.function.graph.as_graph_def()
        names.update(node.op for node in graph_def.node)
        for function in graph_def.library.function:
            names.update(node.op for node in function.node_def)
    return names


def randomness(dataset):
    """Returns `(shuffles, random_ops)` found in the dataset's pipeline.

    Walks the `tf.data` graph of transformations (shuffle / sample / random
    datasets) and the ops of every mapped function (tf.random, Keras random
    augmentation layers). A `from_generator` dataset's Python code is not
    visible and is not checked. Returns `(False, set())` if the pipeline
    cannot be inspected.
    """
    shuffles, random_ops = False, set()
    try:
        for node in _walk(dataset):
            kind = type(node).__name__
            shuffles = shuffles or "Shuffle" in kind
            if "Random" in kind:
                random_ops.add(kind)
            random_ops.update(
                op for op in _function_ops(node) if any(r in op for r in _RANDOM_OPS)
            )
    except (AttributeError, NotImplementedError, TypeError):
        return False, set()
    return shuffles, random_ops


def check_randomness(dataset, allow_random):
    """Refuses random augmentation and warns about shuffling before caching.

    Random augmentation before caching is refused (unless `allow_random`):
    the teacher outputs would be frozen for one random view, and every epoch
    would silently train on that same view. Shuffling is only warned about:
    each cached batch keeps its teacher outputs, so nothing is mismatched,
    but the cache stores one fixed order. Returns whether it shuffles.
    """
    shuffles, random_ops = randomness(dataset)
    if random_ops and not allow_random:
        raise invalid_argument(
            "dataset",
            f"<tf.data.Dataset with random ops {sorted(random_ops)}>",
            "a deterministic dataset: the teacher's outputs for one random "
            "augmentation would be reused every epoch",
            "Cache the dataset without augmentation, distill online (no cache) "
            "to keep fresh augmentations, or pass allow_random=True to freeze "
            "one random view on purpose.",
        )
    if shuffles:
        warnings.warn(
            "The dataset given to cache_teacher_outputs shuffles before "
            "caching: the cache stores that one order (each batch keeps its "
            "own teacher outputs). Cache the dataset before `.shuffle()` and "
            "shuffle the cached dataset instead, e.g. `cached.shuffle(64)`.",
            stacklevel=3,
        )
    return shuffles


def batch_digest(inputs):
    """A 16-hex-digit digest of one batch of inputs (any nested structure)."""
    digest = hashlib.sha256()
    for leaf in tf.nest.flatten(inputs):
        value = np.ascontiguousarray(np.asarray(leaf))
        digest.update(f"{value.shape}{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]
