"""Sequence-level distillation: the student trains on the teacher's generations.

Kim & Rush (2016) train the student on what the teacher generates from the
training prompts rather than on the dataset's responses (with the teacher's
token distributions on those sequences too, "word-level" KD on top).
`generate_teacher_dataset` makes that training set with the teacher's own
KerasHub generation: its `preprocessor.generate_preprocess` and compiled
`generate_function`, with the sampler the teacher was compiled with
(`teacher.compile(sampler="greedy")`, or a seeded
`keras_hub.samplers.TopKSampler(k, seed=...)`). The sequences are kept as
token ids, exactly as generated (never detokenized and tokenized again),
with `sample_weight` 1 on the generated tokens only.
"""

import numpy as np
from keras import ops

from keras_distill.src.models import text
from keras_distill.src.utils import validation
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import tensorflow as tf


def _check_teacher(teacher):
    preprocessor = getattr(teacher, "preprocessor", None)
    if preprocessor is None or not hasattr(teacher, "make_generate_function") or not hasattr(
        preprocessor, "generate_preprocess"
    ):
        raise invalid_argument(
            "teacher", getattr(teacher, "name", teacher),
            "a KerasHub CausalLM with its preprocessor (it generates)",
            "Load it with keras_hub.models.CausalLM.from_preset(...), or give it a "
            "CausalLMPreprocessor.",
        )
    return preprocessor


def _prompt_batches(prompts, batch_size):
    if isinstance(prompts, tf.data.Dataset):
        if prompts.element_spec.shape.rank == 0:
            prompts = prompts.batch(batch_size)
        return prompts
    if isinstance(prompts, str) or not text.has_text(prompts):
        raise invalid_argument(
            "prompts", prompts if isinstance(prompts, str) else type(prompts).__name__,
            "a list or array of strings, or a tf.data.Dataset of them",
            "Wrap a single prompt in a list.",
        )
    return tf.data.Dataset.from_tensor_slices(np.asarray(prompts, dtype=object)).batch(
        batch_size
    )


def stop_token_ids(tokenizer):
    """The ids that end a generation, as `CausalLM.generate`'s "auto"."""
    ids = [tokenizer.end_token_id]
    if getattr(tokenizer, "end_token2_id", None) is not None:
        ids.append(tokenizer.end_token2_id)
    return tuple(ids)


def training_example(prompt_mask, token_ids, padding_mask):
    """`(x, y, sample_weight)` of generated sequences: the next token of
    each position, weighted 1 where it was generated (not prompt, not
    padding)."""
    generated = ops.logical_and(padding_mask, ops.logical_not(prompt_mask))
    x = {"token_ids": token_ids[:, :-1], "padding_mask": padding_mask[:, :-1]}
    return x, token_ids[:, 1:], ops.cast(generated[:, 1:], "float32")


def generate_teacher_dataset(teacher, prompts, max_length=None, *, batch_size=8,
                             logits=False, top_k=None, path=None, verbose=1):
    """The teacher's continuations of `prompts`, as a dataset to train on.

    Args:
        teacher: A KerasHub `CausalLM` with its preprocessor. Its compiled
            sampler chooses the tokens (KerasHub's default is top-k; Kim &
            Rush use greedy or beam search: `teacher.compile(sampler=...)`).
        prompts: Strings (a list or array), or a `tf.data.Dataset` of them.
        max_length: Tokens per generated sequence, prompt included (default:
            the preprocessor's `sequence_length`). The examples have
            `max_length - 1` positions (each predicts the next token).
        batch_size: Prompts generated together, and the batch size of the
            returned dataset.
        logits: When True, the teacher's logits on its own sequences are
            attached (`cache_teacher_outputs`), so that the Distiller trains
            with `teacher=None` and adds word-level KD to the sequence-level
            targets.
        top_k: Store only the `top_k` largest logits per token (implies
            `logits`).
        path: With `logits` or `top_k`: the directory of the cache on disk
            (see `cache_teacher_outputs`).
        verbose: 0 for silence, 1 for the cache's progress bar.

    Returns:
        A batched `tf.data.Dataset` of `(x, y, sample_weight)`: `x` the
        token ids and padding mask, `y` the next tokens and `sample_weight`
        1 on generated tokens only (the end token included), so that every
        term of the Distiller reads the teacher's continuation and never
        the prompt. With `logits`, the teacher's outputs ride along as in
        `cache_teacher_outputs`.
    """
    preprocessor = _check_teacher(teacher)
    validation.check_count(batch_size, "batch_size")
    if path is not None and not (logits or top_k):
        raise invalid_argument(
            "path", path, "None unless logits=True or top_k is set (it is the logits' cache)",
            "To keep generations alone, save the returned dataset: dataset.save(path).",
        )
    max_length = max_length or preprocessor.sequence_length
    generate = teacher.make_generate_function()
    stops = stop_token_ids(preprocessor.tokenizer)
    parts = []
    for batch in _prompt_batches(prompts, batch_size):
        inputs = preprocessor.generate_preprocess(batch, sequence_length=max_length)
        outputs = generate(inputs, stop_token_ids=stops)
        example = training_example(inputs["padding_mask"], outputs["token_ids"],
                                   outputs["padding_mask"])
        parts.append(tf.nest.map_structure(ops.convert_to_numpy, example))
    if not parts:
        raise invalid_argument("prompts", "no prompts", "at least one prompt")
    arrays = tf.nest.map_structure(lambda *pieces: np.concatenate(pieces), *parts)
    dataset = tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size)
    if not (logits or top_k):
        return dataset
    from keras_distill.src.teachers.cache import cache_teacher_outputs

    return cache_teacher_outputs(teacher, dataset, path=path, top_k=top_k, verbose=verbose)
