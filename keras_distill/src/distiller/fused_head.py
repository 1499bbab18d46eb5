"""A train step in which the student's logits are never whole.

For a language-model student with a linear head (`models/lm_head.py:
find_linear_head`: a KerasHub `CausalLM`, or a model ending in a linear
`Dense`), the step runs the student's body only and gives the losses the
student's last hidden states and head weights (`DeferredLogits`, trainable).
`losses/fused_head.py: head_losses` then computes the hard-label
cross-entropy and the KL term together, chunk by chunk, forward and backward.

The values are those of the usual step: the same per-position losses,
weighted and averaged the same way. It is used whenever it can give them:

- the distillation loss is one `KLDivergence` (not standardized, chunked)
  of the whole output, with no feature terms;
- the student loss is `keras.losses.SparseCategoricalCrossentropy(
  from_logits=True)` (no `ignore_class`) or none;
- no `metrics=` are compiled (they read the student's logits), teacher and
  student share every class id, and the batch's teacher outputs are not
  read from a cache (decoding them needs the student's logits).

Evaluation and prediction run the whole student as always.
"""

import keras

from keras_distill.src.distiller import replicas
from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.losses.base import PREDICTIONS
from keras_distill.src.losses.fused_head import head_losses
from keras_distill.src.models import lm_head
from keras_distill.src.utils import keras_compat
from keras_distill.src.utils.keras_compat import get_keras_mask


def _fusable_student_loss(student_loss):
    if not student_loss:
        return True
    if len(student_loss.entries) != 1 or student_loss.entries[0][0] is not None:
        return False
    loss = student_loss.entries[0][2]
    if not isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        return False
    config = loss.get_config()
    return (config.get("from_logits") is True and config.get("ignore_class") is None
            and config.get("axis", -1) == -1)


def _fusable_term(term):
    return (
        getattr(term.fn, "reads_deferred_logits", False)
        and not term.fn_kwargs.get("standardize", False)
        and term.fn_kwargs.get("chunk_size", "auto") is not None
        and term.output is None
        and term.teacher_source == OUTPUTS == term.student_source
    )


def find_student_head(distiller, terms):
    """The student's `(body, head)` when its step can be fused (see the
    module docstring, but for what is known only at the step), else None."""
    if distiller._shared_ids is not None or distiller._taps.extractors["student"] is not None:
        return None
    if len(terms) != 1 or not _fusable_term(terms[0]):
        return None
    if not _fusable_student_loss(distiller._student_loss):
        return None
    return lm_head.find_linear_head(distiller.student)


def student_head(distiller, cached):
    """`(body, head)` for this step, or None: the usual step."""
    if cached is not None or keras_compat.compile_metrics(distiller) is not None:
        return None
    return distiller._student_head


def student_outputs(head, x, training):
    """The student's deferred logits (`OUTPUTS`) and its hidden states
    (`PREDICTIONS`, for the batch size and the finiteness check)."""
    body, layer = head
    hidden = body(x, training=training)
    return {OUTPUTS: lm_head.DeferredLogits(hidden, layer, trainable=True),
            PREDICTIONS: hidden}


def sequential_chunks(distiller):
    """Whether the chunks run in a loop: everywhere but on TensorFlow
    without XLA (its default on CPU), whose loop runs about 1.6x the CPU
    time of the unrolled chunks (`benchmarks/token_kd.py`)."""
    return keras.backend.backend() != "tensorflow" or bool(distiller.jit_compile)


def is_fused(student_outputs):
    return student_outputs is not None and isinstance(
        student_outputs.get(OUTPUTS), lm_head.DeferredLogits
    )


def loss_means(distiller, y, sample_weight, teacher_outputs, student_outputs):
    """`([student loss mean] or [], [KL term mean])`, as the usual step's
    `StudentLoss.values` and `term_value` give them.

    Args:
        y: Labels `(batch, time)`, or None for no student loss.
    """
    student = student_outputs[OUTPUTS]
    term = distiller._terms[0]
    temperature = distiller.temperature if term.temperature is None else term.temperature
    cross_entropy, kl = head_losses(
        student, y, teacher_outputs[OUTPUTS], temperature,
        chunk_size=term.fn_kwargs.get("chunk_size", "auto"),
        sequential=sequential_chunks(distiller),
    )
    mask = get_keras_mask(student.hidden)
    means = [] if y is None else [replicas.weighted_mean(cross_entropy, sample_weight, mask)]
    return means, [replicas.weighted_mean(kl, sample_weight, mask)]
