"""Raw text for language-model students: the student's preprocessor, mapped
over the data in the input pipeline.

A KerasHub task (a `CausalLM`, say) carries its `preprocessor`, and its own
`fit` maps the task's `preprocess_samples` over a `tf.data` pipeline built
from the data. The Distiller does the same with the student's, so
`distiller.fit(["some text", ...])` trains on the token ids, `padding_mask`
and `sample_weight` the preprocessor makes (padded positions have weight 0
in every term). The teacher sees the student's token ids: both must share a
tokenizer (`models/vocabulary.py`). Data that is already preprocessed (no
strings) is passed on unchanged, and so is any data for students without a
preprocessor.
"""

import numpy as np

from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import tensorflow as tf


def preprocess_samples(model):
    """The model's `preprocess_samples` (a KerasHub task with a
    `preprocessor`), or None."""
    if getattr(model, "preprocessor", None) is None:
        return None
    return getattr(model, "preprocess_samples", None)


def _has_strings(value):
    if isinstance(value, (str, bytes)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_strings(item) for item in value)
    if isinstance(value, dict):
        return any(_has_strings(item) for item in value.values())
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US":
            return True
        return value.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in value.flat)
    return "string" in str(getattr(value, "dtype", "")).lower()


def _is_dataset(value):
    return tf.available and isinstance(value, tf.data.Dataset)


def has_text(x):
    """Whether `x` (arrays, lists, or a `tf.data.Dataset`) holds strings."""
    if _is_dataset(x):
        return any(spec.dtype == tf.string for spec in tf.nest.flatten(x.element_spec))
    return _has_strings(x)


def _dataset(preprocess, x, y, sample_weight, batch_size, shuffle):
    """`x`, `y`, `sample_weight` batched as `tf.data`, preprocessed."""
    if _is_dataset(x):
        for name, value in (("y", y), ("sample_weight", sample_weight),
                            ("batch_size", batch_size)):
            if value is not None:
                raise invalid_argument(
                    name, value, "None when `x` is a tf.data.Dataset",
                    "Put labels and weights in the dataset's elements and batch it.",
                )
        return x.map(
            lambda *batch: preprocess(*batch), num_parallel_calls=tf.data.AUTOTUNE
        ).prefetch(tf.data.AUTOTUNE)
    elements = {"x": x}
    for name, value in (("y", y), ("sample_weight", sample_weight)):
        if value is not None:
            elements[name] = value
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        dataset = dataset.shuffle(int(dataset.cardinality()), reshuffle_each_iteration=True)
    return dataset.batch(batch_size or 32).map(
        lambda batch: preprocess(batch["x"], batch.get("y"), batch.get("sample_weight")),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).prefetch(tf.data.AUTOTUNE)


def prepare(distiller, x, y, args, kwargs, training=False):
    """`fit`/`evaluate`/`predict`'s arguments, raw text preprocessed.

    Returns:
        `(x, y, args, kwargs)`: unchanged unless `x` holds strings and the
        student has a preprocessor; then `x` is a preprocessed `tf.data`
        pipeline, `y` is None and `batch_size`, `sample_weight` (and with
        `training`, `shuffle` and `validation_data`) are consumed.
    """
    preprocess = preprocess_samples(distiller.student)
    if preprocess is None:
        return x, y, args, kwargs
    kwargs = dict(kwargs)
    if training and kwargs.get("validation_data") is not None:
        kwargs["validation_data"] = _validation(preprocess, kwargs["validation_data"])
    if not has_text(x):
        return x, y, args, kwargs
    if not tf.available:
        raise ImportError(
            "Training on raw text maps the student's preprocessor with tf.data, "
            "which needs TensorFlow. Install it: pip install tensorflow."
        )
    if training and kwargs.get("validation_split"):
        raise invalid_argument(
            "validation_split", kwargs["validation_split"], "0 with raw text",
            "Pass held-out texts as `validation_data=` instead.",
        )
    args = list(args)
    batch_size = args[0] if args else kwargs.pop("batch_size", None)
    if args:
        args[0] = None
    shuffle = kwargs.pop("shuffle", True) if training else False
    if training:
        kwargs["shuffle"] = False  # Shuffled here, before batching.
    dataset = _dataset(preprocess, x, y, kwargs.pop("sample_weight", None), batch_size, shuffle)
    return dataset, None, tuple(args), kwargs


def _validation(preprocess, data):
    """`validation_data` preprocessed when it holds raw text."""
    if _is_dataset(data):
        return _dataset(preprocess, data, None, None, None, False) if has_text(data) else data
    if isinstance(data, tuple) and 1 <= len(data) <= 3:
        x, y, sample_weight = (tuple(data) + (None, None))[:3]
    else:
        x, y, sample_weight = data, None, None
    if not has_text(x):
        return data
    return _dataset(preprocess, x, y, sample_weight, None, False)
