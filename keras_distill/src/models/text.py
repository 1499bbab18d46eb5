"""Raw text for KerasHub language models: a task's preprocessor, mapped over
the data in a `tf.data` input pipeline.

A KerasHub task (a `CausalLM`, say) carries its `preprocessor`, and its own
`fit` maps the task's `preprocess_samples` over a `tf.data` pipeline built
from the data. `text_dataset` does the same for the Distiller (with the
student's preprocessor) and for `cache_teacher_outputs` (with the
teacher's): token ids, `padding_mask` and the preprocessor's
`sample_weight` come out, so padded positions have weight 0 in every term.
"""

import numpy as np

from keras_distill.src.models import prompts
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import tensorflow as tf


def preprocess_samples(model):
    """The model's `preprocess_samples` (a KerasHub task with a
    `preprocessor`), or None. Prompt/response dicts are encoded by
    `prompts.preprocess` with the model's preprocessor."""
    preprocessor = getattr(model, "preprocessor", None)
    task_preprocess = getattr(model, "preprocess_samples", None)
    if preprocessor is None or task_preprocess is None:
        return None

    def preprocess(x, y=None, sample_weight=None):
        if prompts.is_prompt_response(x):
            return prompts.preprocess(preprocessor, x, y, sample_weight)
        return task_preprocess(x, y, sample_weight)

    return preprocess


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


def text_dataset(preprocess, x, y=None, sample_weight=None, batch_size=None, shuffle=False):
    """`x`, `y`, `sample_weight` batched as `tf.data` (by `batch_size`,
    default 32; a `tf.data.Dataset` `x` as it is batched), preprocessed."""
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


def preprocessed(preprocess, data, batch_size=None):
    """`data` (a dataset, arrays or lists, or an `(x, y, sample_weight)`
    tuple of them) preprocessed when it holds raw text, else unchanged."""
    if _is_dataset(data):
        return text_dataset(preprocess, data) if has_text(data) else data
    if isinstance(data, tuple) and 1 <= len(data) <= 3:
        x, y, sample_weight = (tuple(data) + (None, None))[:3]
    else:
        x, y, sample_weight = data, None, None
    if not has_text(x):
        return data
    return text_dataset(preprocess, x, y, sample_weight, batch_size)
