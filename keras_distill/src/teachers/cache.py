"""Cached (offline) teacher outputs: run the teacher once, train many epochs.

Element layout. `cache_teacher_outputs` keeps every element of the dataset
and replaces its inputs `x` by a dict

    {"__inputs__": x,
     "__teacher_outputs__": outputs,
     "__teacher_fingerprint__": int64 tensor (batch,)}

so `(x, y)`, `(x, y, sample_weight)` and `x`-only elements keep their shape
and `keras.utils.unpack_x_y_sample_weight` still works. `outputs` is one of:

- a float tensor `(batch, ..., classes)` of teacher logits;
- a top-k dict `{"top_k_logits", "top_k_indices"[, "tail_logsumexp",
  "tail_mean"]}` (see `top_k.py`), rebuilt at the step's temperature;
- for an `Ensemble(combine="probabilities")`, whose mixture depends on the
  temperature, `{"member_logits": (one of the above per teacher),
  "member_weights": (batch, teachers)}`, combined at each step.

The Distiller recognises the dict, feeds `x` to the student, and uses the
cached outputs instead of running the teacher.
"""

import keras
import numpy as np
from keras import ops

from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.teachers import dataset_checks
from keras_distill.src.teachers import storage
from keras_distill.src.teachers import top_k as top_k_lib
from keras_distill.src.teachers.ensemble import Ensemble
from keras_distill.src.teachers.ensemble import probability_mixture
from keras_distill.src.teachers.teacher import as_teacher
from keras_distill.src.teachers.teacher import fingerprint
from keras_distill.src.teachers.teacher import fingerprint_as_int64
from keras_distill.src.teachers.teacher import logits_of
from keras_distill.src.teachers.teacher import teacher_forward
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import tensorflow as tf

INPUTS = "__inputs__"
TEACHER_OUTPUTS = "__teacher_outputs__"
FINGERPRINT = "__teacher_fingerprint__"
MEMBERS = "member_logits"
MEMBER_WEIGHTS = "member_weights"
DTYPES = ("float32", "float16", "bfloat16")


def split_cached_inputs(x):
    """Returns `(inputs, cached)`: `cached` is None for a plain batch."""
    if isinstance(x, dict) and TEACHER_OUTPUTS in x:
        return x[INPUTS], x
    return x, None


def _decode(outputs, num_classes, temperature):
    if top_k_lib.is_top_k(outputs):
        return top_k_lib.dense_logits(outputs, num_classes, temperature)
    return ops.cast(outputs, "float32")


def _stale_message(teacher):
    return (
        "Stale teacher cache: these cached teacher outputs were computed "
        f"by a teacher whose weights differ from this Distiller's teacher "
        f"'{teacher.name}'. Re-run keras_distill.cache_teacher_outputs "
        "with the current teacher, or build the Distiller with "
        "teacher=None to train from the cache as it is."
    )


def check_fingerprint(fingerprints, teacher):
    """Raises when cached teacher outputs were made by other weights than
    `teacher`'s (checked on the host at the start of every `fit`).

    Args:
        fingerprints: The `__teacher_fingerprint__` values of a cached batch
            (or of cached arrays), a NumPy array.
        teacher: The Distiller's teacher, or None (nothing to compare).
    """
    if teacher is None:
        return
    expected = fingerprint_as_int64(fingerprint(teacher))
    if expected != 0 and not np.all((fingerprints == expected) | (fingerprints == 0)):
        raise ValueError(_stale_message(teacher))


def cached_teacher_logits(cached, temperature, student_logits, terms=()):
    """Teacher logits for a cached batch, as the distillation terms read them.

    Decodes top-k storage against the student's class axis and combines
    ensemble members at the step's `temperature`. (That the cache was made
    by the Distiller's teacher is checked before `fit` starts:
    `check_fingerprint`.)
    """
    layered = sorted({term.teacher_source for term in terms} - {OUTPUTS})
    if layered:
        raise ValueError(
            f"Cached teacher outputs hold only the teacher's final outputs, "
            f"but distillation terms read teacher layers {layered}. Distill "
            "online (a dataset without cached outputs) for feature terms."
        )
    num_classes = student_logits.shape[-1]
    if num_classes is None:
        num_classes = ops.shape(student_logits)[-1]
    outputs = cached[TEACHER_OUTPUTS]
    if isinstance(outputs, dict) and MEMBERS in outputs:
        members = [_decode(member, num_classes, temperature) for member in outputs[MEMBERS]]
        logits = probability_mixture(members, outputs[MEMBER_WEIGHTS], temperature)
    else:
        logits = _decode(outputs, num_classes, temperature)
    teacher_shape = tuple(logits.shape)
    student_shape = tuple(student_logits.shape)
    if len(teacher_shape) != len(student_shape) or teacher_shape[-1] not in (
        None, student_shape[-1]
    ):
        raise ValueError(
            f"Cached teacher outputs do not match the student. Received: cached "
            f"teacher output shape={teacher_shape}, student output shape="
            f"{student_shape}. Expected the same rank and class axis. Was the "
            "cache made for another task?"
        )
    return ops.stop_gradient(logits)


def _encoder(teacher, reader, top_k, fill, dtype, element_spec):
    """A tf.function `inputs -> stored teacher outputs` (on the device).

    Traced once, for the dataset's input spec (any batch size).
    """

    def encode(logits):
        if top_k is None:
            return ops.cast(logits, dtype)
        classes = logits.shape[-1]
        if classes is not None and not top_k < classes:
            raise invalid_argument(
                "top_k", top_k, f"an integer < {classes} (the number of classes)",
                "Pass top_k=None to store dense logits.",
            )
        return top_k_lib.top_k_logits(logits, top_k, fill=fill, dtype=dtype)

    def forward(inputs):
        if isinstance(teacher, Ensemble) and teacher.combine == "probabilities":
            members = teacher.member_logits(inputs)
            batch = ops.shape(members[0])[0]
            weights = ops.convert_to_tensor(teacher.mixture_weights, "float32")
            return {
                MEMBERS: tuple(encode(member) for member in members),
                MEMBER_WEIGHTS: ops.broadcast_to(weights, (batch, len(members))),
            }
        return encode(teacher_forward(reader, inputs, temperature=1.0))

    if keras.backend.backend() != "tensorflow":
        # The teacher runs on the Keras backend, on NumPy batches from tf.data.
        def backend_forward(inputs):
            inputs = tf.nest.map_structure(np.asarray, inputs)
            return keras.tree.map_structure(ops.convert_to_numpy, forward(inputs))

        return backend_forward
    inputs_spec, _, _ = keras.utils.unpack_x_y_sample_weight(element_spec)
    return tf.function(forward, input_signature=[inputs_spec])


def _replace_inputs(element, inputs):
    if isinstance(element, tuple) and 1 <= len(element) <= 3:
        return (inputs, *element[1:])
    return inputs


def _cached_elements(dataset, encode, reader, fingerprint_int, stats):
    """Yields NumPy elements with teacher outputs; fills `stats`."""
    for element in dataset:
        x, _, _ = keras.utils.unpack_x_y_sample_weight(element)
        if stats["num_examples"] == 0:
            reader.check_outputs(x)
        outputs = tf.nest.map_structure(np.asarray, encode(x))
        batch = int(tf.nest.flatten(x)[0].shape[0])
        if stats["first_batch_digest"] is None:
            stats["first_batch_digest"] = dataset_checks.batch_digest(x)
        stats["num_examples"] += batch
        stats["teacher_bytes"] += sum(leaf.nbytes for leaf in tf.nest.flatten(outputs))
        cached = {
            INPUTS: x,
            TEACHER_OUTPUTS: outputs,
            FINGERPRINT: tf.fill([batch], tf.constant(fingerprint_int, tf.int64)),
        }
        element = _replace_inputs(element, cached)
        yield tf.nest.map_structure(lambda t: t.numpy() if tf.is_tensor(t) else t, element)


def _check_same(path, name, cached, current, fix):
    if cached is not None and current is not None and cached != current:
        raise ValueError(
            f"Stale teacher cache at {path!r}: its {name} is {cached!r} but the "
            f"current one is {current!r}. {fix} Pass overwrite=True to recompute "
            "it, or use another path."
        )


def _check_matches(path, metadata, expected, dataset, shuffles):
    _check_same(path, "teacher fingerprint", metadata["teacher_fingerprint"],
                expected["teacher_fingerprint"],
                "The teacher's weights changed since the cache was written.")
    cardinality = expected["cardinality"]
    _check_same(path, "number of batches", metadata["num_batches"],
                cardinality if cardinality >= 0 else None,
                "The dataset (or its batch size) changed.")
    _check_same(path, "settings", metadata["settings"], expected["settings"],
                "top_k, top_k_fill, dtype, teacher_outputs or the ensemble changed.")
    if not shuffles and metadata["first_batch_digest"] is not None:
        first = next(iter(dataset.take(1)))
        x, _, _ = keras.utils.unpack_x_y_sample_weight(first)
        _check_same(path, "first batch digest", metadata["first_batch_digest"],
                    dataset_checks.batch_digest(x),
                    "The dataset holds different examples (or another order).")


def _report(stats, where):
    examples = max(stats["num_examples"], 1)
    print(
        f"Cached teacher outputs for {stats['num_examples']} examples "
        f"{where}: {stats['teacher_bytes'] / examples:.1f} bytes per example "
        "(+8 bytes of fingerprint)."
    )


def cache_teacher_outputs(
    teacher,
    dataset,
    path=None,
    top_k=None,
    *,
    top_k_fill="uniform",
    dtype="float32",
    batch_size=32,
    teacher_outputs="auto",
    allow_random=False,
    overwrite=False,
    verbose=1,
):
    """Runs the teacher once over a dataset and returns it with the outputs.

    The result is a `tf.data.Dataset` that yields the original elements (same
    batches, same order) with the teacher's outputs attached to the inputs
    (layout in this module's docstring). `Distiller.fit` on it never runs the
    teacher, so epochs cost about as much as training the student alone; the
    Distiller may then be built with `teacher=None`. Shuffle or repeat the
    returned dataset freely: each batch carries its own teacher outputs.

    The cache holds logits: a teacher that ends in a softmax is read before
    it, or its probabilities are stored as log-probabilities, as
    `teacher_outputs` says (see `keras_distill.Distiller`).

    Stale caches are refused. Each cached batch carries a fingerprint of the
    teacher's weights: a Distiller whose teacher has other weights refuses
    the cache at the start of every `fit`, before any step. A cache on
    disk also records the dataset's number of batches (compared when the
    dataset's cardinality is known) and a digest of its first batch; calling
    this function again with the same `path` reloads the cache when teacher,
    dataset and settings match, and raises otherwise.

    Randomness: a dataset that applies random ops (augmentation) before
    caching is refused, because one random view would silently be reused
    every epoch (`allow_random=True` accepts it). A dataset that shuffles
    before caching only warns: the cache keeps that one order.

    Args:
        teacher: A Keras model, `keras.layers.TFSMLayer`, callable, list of
            them, or `keras_distill.teachers.Ensemble`.
        dataset: A finite, batched `tf.data.Dataset` of `x`, `(x, y)` or
            `(x, y, sample_weight)`, or arrays in those shapes (batched by
            `batch_size`, in order).
        path: Optional directory. When given, the outputs are written there
            as TFRecord and read back from disk; otherwise kept in memory.
        top_k: Optional number of logits kept per example (and per time
            step for `(batch, time, vocab)` outputs): see
            `keras_distill.teachers.top_k_logits`.
        top_k_fill: `"uniform"` (the rest of the probability mass is spread
            evenly over the other classes) or `"drop"` (the teacher's
            distribution renormalized over its top k).
        dtype: Storage dtype of the logits: `"float32"`, `"float16"` or
            `"bfloat16"`.
        batch_size: Batch size for array inputs.
        teacher_outputs: `"auto"`, `"logits"` or `"probabilities"`: what the
            teacher outputs (as the Distiller's argument of that name).
        allow_random: Accept a dataset with random augmentation.
        overwrite: Recompute a cache that exists at `path`.
        verbose: 1 prints the storage per example; 0 is silent.

    Returns:
        A `tf.data.Dataset` for `Distiller.fit`.

    Example:

    ```python
    cached = keras_distill.cache_teacher_outputs(teacher, train_ds, top_k=8)
    distiller = keras_distill.Distiller(teacher=None, student=student)
    distiller.compile(optimizer="adam", student_loss_fn=loss)
    distiller.fit(cached.shuffle(100), epochs=20)
    ```
    """
    teacher = as_teacher(teacher, teacher_outputs)
    if teacher is None:
        raise invalid_argument("teacher", None, "a teacher to run over the dataset")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise invalid_argument("top_k", top_k, "None or an integer >= 1")
    if top_k_fill not in top_k_lib.FILLS:
        raise invalid_argument("top_k_fill", top_k_fill, f"one of {top_k_lib.FILLS}")
    if dtype not in DTYPES:
        raise invalid_argument("dtype", dtype, f"one of {DTYPES}")
    dataset = dataset_checks.as_dataset(dataset, batch_size)
    cardinality = dataset_checks.finite_cardinality(dataset)
    shuffles = dataset_checks.check_randomness(dataset, allow_random)
    digest = fingerprint(teacher)
    expected = {
        "teacher_fingerprint": digest,
        "cardinality": cardinality,
        "settings": {
            "top_k": top_k,
            "top_k_fill": top_k_fill if top_k else None,
            "dtype": dtype,
            "teacher_outputs": teacher_outputs,
            "ensemble": [teacher.combine, teacher.mixture_weights]
            if isinstance(teacher, Ensemble) else None,
        },
    }
    if path is not None:
        path = str(path)
        metadata = None if overwrite else storage.read_metadata(path)
        if metadata is not None:
            _check_matches(path, metadata, expected, dataset, shuffles)
            storage.verify(path, metadata)
            return storage.load(path, metadata)
    stats = {"first_batch_digest": None, "num_examples": 0, "teacher_bytes": 0}
    reader = logits_of(teacher, teacher_outputs)
    encode = _encoder(teacher, reader, top_k, top_k_fill, dtype, dataset.element_spec)
    elements = _cached_elements(
        dataset, encode, reader, fingerprint_as_int64(digest), stats
    )
    if path is None:
        cached = tf.data.experimental.from_list(list(elements))
        where = "in memory"
    else:
        metadata = storage.write(
            path,
            elements,
            lambda written: dict(
                expected,
                **written,
                first_batch_digest=None if shuffles else stats["first_batch_digest"],
                num_examples=stats["num_examples"],
                teacher_bytes_per_example=stats["teacher_bytes"]
                / max(stats["num_examples"], 1),
            ),
        )
        cached = storage.load(path, metadata)
        where = f"at {path!r}"
    if verbose:
        _report(stats, where)
    return cached
