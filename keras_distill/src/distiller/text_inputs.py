"""`Distiller.fit`, `evaluate` and `predict` on raw text: the student's
preprocessor mapped over the data (`models/text.py`), as KerasHub's own
`Task.fit` does. The teacher sees the student's token ids: both must share a
tokenizer (`models/vocabulary.py`). Data that is already preprocessed (no
strings) is passed on unchanged, and so is any data for students without a
preprocessor.

The student's preprocessing is one `tf.function` per Distiller (and per
preprocessor config): every later `fit`, `evaluate`, `predict` and
validation pipeline reuses its trace, where each `Dataset.map` of a plain
function would trace the tokenizer again (seconds each time).
"""

import json
import weakref

from keras_distill.src.models import text
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import tensorflow as tf

# Distiller -> (the preprocessor's config, its traced preprocessing). Weak
# keys: an entry ends with its Distiller.
_TRACED = weakref.WeakKeyDictionary()


def _student_preprocess(distiller):
    """The student's preprocessing as a `tf.function`, traced again only
    when the preprocessor's config (its `sequence_length`, say) changed."""
    preprocess = text.preprocess_samples(distiller.student)
    if preprocess is None or not tf.available:
        return preprocess
    config = json.dumps(distiller.student.preprocessor.get_config(), sort_keys=True, default=repr)
    cached = _TRACED.get(distiller)
    if cached is None or cached[0] != config:
        cached = _TRACED[distiller] = (config, tf.function(preprocess))
    return cached[1]


def prepare(distiller, x, y, args, kwargs, training=False):
    """`fit`/`evaluate`/`predict`'s arguments, raw text preprocessed.

    Returns:
        `(x, y, args, kwargs)`: unchanged unless `x` holds strings and the
        student has a preprocessor; then `x` is a preprocessed `tf.data`
        pipeline, `y` is None and `batch_size`, `sample_weight` (and with
        `training`, `shuffle` and `validation_data`) are consumed.
    """
    preprocess = _student_preprocess(distiller)
    if preprocess is None:
        return x, y, args, kwargs
    kwargs = dict(kwargs)
    if training and kwargs.get("validation_data") is not None:
        kwargs["validation_data"] = text.preprocessed(preprocess, kwargs["validation_data"])
    if not text.has_text(x):
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
    dataset = text.text_dataset(
        preprocess, x, y, kwargs.pop("sample_weight", None), batch_size, shuffle
    )
    return dataset, None, tuple(args), kwargs


