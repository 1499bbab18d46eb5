"""`cache_teacher_outputs`: run the teacher once, train many epochs.

The elements it yields, and how the Distiller reads them: `cached.py`. On
disk: `storage.py` (format) and `shard_writer.py` (resumable writes).
"""

import keras
import numpy as np
from keras import ops

from keras_distill.src.models import text
from keras_distill.src.models import vocabulary
from keras_distill.src.teachers import dataset_checks
from keras_distill.src.teachers import shard_writer
from keras_distill.src.teachers import storage
from keras_distill.src.teachers import top_k as top_k_lib
from keras_distill.src.teachers.cached import FINGERPRINT
from keras_distill.src.teachers.cached import INPUTS
from keras_distill.src.teachers.cached import MEMBER_WEIGHTS
from keras_distill.src.teachers.cached import MEMBERS
from keras_distill.src.teachers.cached import PER_OUTPUT
from keras_distill.src.teachers.cached import TEACHER_OUTPUTS
from keras_distill.src.teachers.ensemble import Ensemble
from keras_distill.src.teachers.multi_task import MultiTask
from keras_distill.src.teachers.teacher import as_teacher
from keras_distill.src.teachers.teacher import fingerprint
from keras_distill.src.teachers.teacher import fingerprint_as_int64
from keras_distill.src.teachers.teacher import logits_of
from keras_distill.src.teachers.teacher import teacher_forward
from keras_distill.src.utils import validation
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import tensorflow as tf

DTYPES = ("float32", "float16", "bfloat16")


def _encoder(teacher, reader, top_k, fill, dtype, element_spec, token_ids):
    """A tf.function `inputs -> stored teacher outputs` (on the device).

    Traced once, for the dataset's input spec (any batch size). With
    `token_ids`, a language model's logits keep only the tokenizer's ids.
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

    def stored(teacher, reader, inputs):
        if isinstance(teacher, Ensemble) and teacher.combine == "probabilities":
            members = teacher.member_logits(inputs)
            batch = ops.shape(members[0])[0]
            weights = ops.convert_to_tensor(teacher.mixture_weights, "float32")
            return {
                MEMBERS: tuple(encode(member) for member in members),
                MEMBER_WEIGHTS: ops.broadcast_to(weights, (batch, len(members))),
            }
        logits = teacher_forward(reader, inputs, temperature=1.0)
        if isinstance(logits, dict):  # A teacher with several outputs.
            return {PER_OUTPUT: {name: encode(value) for name, value in logits.items()}}
        return encode(vocabulary.leading_ids(logits, token_ids))

    def forward(inputs):
        if isinstance(teacher, MultiTask):
            return {PER_OUTPUT: {
                name: stored(member, teacher.logits_readers[name], inputs)
                for name, member in teacher.teachers.items()
            }}
        return stored(teacher, reader, inputs)

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


def _cached_elements(dataset, encode, reader, fingerprint_int, stats, progbar):
    """Yields NumPy elements with teacher outputs; keeps `stats` current
    (with `"last_batch_digest"` when `stats` has that key)."""
    for element in dataset:
        x, _, _ = keras.utils.unpack_x_y_sample_weight(element)
        if stats["num_examples"] == 0:
            reader.check_outputs(x)
        outputs = tf.nest.map_structure(np.asarray, encode(x))
        batch = int(tf.nest.flatten(x)[0].shape[0])
        if stats["first_batch_digest"] is None:
            stats["first_batch_digest"] = dataset_checks.batch_digest(x)
        if "last_batch_digest" in stats:
            stats["last_batch_digest"] = dataset_checks.batch_digest(x)
        stats["written_batches"] += 1
        if progbar is not None:
            progbar.update(stats["written_batches"])
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


def _resume(path, expected, dataset, shuffles, overwrite):
    """The progress of an interrupted write of this cache to continue, or a
    new one; raises (unless `overwrite`) for one that cannot be continued.

    A write is continued when its teacher, settings and dataset match and the
    dataset's batch just before the resume point is the last one written.
    """
    progress = shard_writer.read_progress(path)
    fields = {key: expected[key] for key in ("teacher_fingerprint", "settings")}
    fields["num_batches"] = expected["cardinality"] if expected["cardinality"] >= 0 else None
    if progress is None or not progress["shards"]:
        return shard_writer.new_progress(fields)
    partial = shard_writer.partial_path(path)
    try:
        if shuffles:
            raise ValueError(
                f"The interrupted write of the teacher cache at {partial!r} cannot "
                "be continued: the dataset shuffles before caching, so its first "
                "batches are not the ones written. Pass overwrite=True to start "
                "again, or cache an unshuffled dataset."
            )
        state = progress["state"]
        _check_matches(partial, dict(progress, **state), expected, dataset, shuffles)
        storage.verify(partial, progress["shards"])
        last = next(iter(dataset.skip(state["written_batches"] - 1).take(1)))
        x, _, _ = keras.utils.unpack_x_y_sample_weight(last)
        _check_same(partial, "last written batch digest", state["last_batch_digest"],
                    dataset_checks.batch_digest(x),
                    "The dataset holds different examples (or another order).")
    except ValueError:
        if not overwrite:
            raise
        return shard_writer.new_progress(fields)
    return progress


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
    shard_bytes=2**28,
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

    Large corpora: on disk the cache is written in shards of about
    `shard_bytes`, streamed (never held in memory), with a progress bar. A
    write that is interrupted (killed, out of disk) keeps its closed shards
    under `<path>.partial/`; calling this function again with the same
    arguments continues after them, once the teacher, the settings and the
    dataset's batch before the resume point are checked to be the same.

    Language models: for a KerasHub task with a `preprocessor` (a
    `CausalLM`), raw text (a list or array of strings, or a `tf.data` of
    them) is preprocessed with the teacher's preprocessor first, so the cache
    holds token ids, `padding_mask` and the preprocessor's `sample_weight`
    beside the teacher's logits, and a Distiller with `teacher=None` trains a
    student that shares the tokenizer from it. A teacher whose embedding is
    padded past its tokenizer's size stores the tokenizer's ids only
    (`top_k=64`, say, keeps a 128k vocabulary at 392 bytes per token).

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
        overwrite: Recompute a cache that exists at `path` (an interrupted
            write of the same cache is still continued; one that cannot be
            is discarded).
        shard_bytes: Size at which an on-disk shard is closed: the unit of
            work an interrupted write keeps.
        verbose: 1 shows a progress bar and prints the storage per example;
            0 is silent.

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
    model = teacher
    teacher = as_teacher(teacher, teacher_outputs)
    if teacher is None:
        raise invalid_argument("teacher", None, "a teacher to run over the dataset")
    validation.check_count(top_k, "top_k", optional=True)
    if top_k_fill not in top_k_lib.FILLS:
        raise invalid_argument("top_k_fill", top_k_fill, f"one of {top_k_lib.FILLS}")
    if dtype not in DTYPES:
        raise invalid_argument("dtype", dtype, f"one of {DTYPES}")
    preprocess = text.preprocess_samples(model)
    if preprocess is not None:
        dataset = text.preprocessed(preprocess, dataset, batch_size)
    validation.check_count(shard_bytes, "shard_bytes", unit="bytes")
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
            storage.verify(path, storage.shards(metadata))
            return storage.load(path, metadata)
    stats = {"first_batch_digest": None, "written_batches": 0, "num_examples": 0,
             "teacher_bytes": 0}
    if path is not None:
        progress = _resume(path, expected, dataset, shuffles, overwrite)
        stats = {**stats, "last_batch_digest": None, **progress["state"]}
        dataset = dataset.skip(stats["written_batches"])
    progbar = None
    if verbose:
        progbar = keras.utils.Progbar(cardinality if cardinality >= 0 else None,
                                      unit_name="batch")
        progbar.update(stats["written_batches"])
    reader = logits_of(teacher, teacher_outputs)
    encode = _encoder(teacher, reader, top_k, top_k_fill, dtype, dataset.element_spec,
                      vocabulary.tokenizer_ids(model))
    elements = _cached_elements(
        dataset, encode, reader, fingerprint_as_int64(digest), stats, progbar
    )
    if path is None:
        cached = tf.data.experimental.from_list(list(elements))
        where = "in memory"
    else:
        metadata = shard_writer.write(
            path,
            elements,
            progress,
            lambda written: dict(
                expected,
                **written,
                first_batch_digest=None if shuffles else stats["first_batch_digest"],
                num_examples=stats["num_examples"],
                teacher_bytes_per_example=stats["teacher_bytes"]
                / max(stats["num_examples"], 1),
            ),
            stats,
            shard_bytes,
        )
        cached = storage.load(path, metadata)
        where = f"at {path!r}"
    if verbose:
        _report(stats, where)
    return cached
