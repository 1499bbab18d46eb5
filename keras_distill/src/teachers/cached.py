"""Cached teacher outputs as the Distiller reads them.

Element layout. `cache_teacher_outputs` (`cache.py`) keeps every element of
the dataset and replaces its inputs `x` by a dict

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
  "member_weights": (batch, teachers)}`, combined at each step;
- for a teacher with several outputs or a `MultiTask`, `{"per_output":
  {output_name: one of the above}}`.

The Distiller recognises the dict, feeds `x` to the student, and uses the
cached outputs instead of running the teacher.
"""

import numpy as np
from keras import ops

from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.teachers import top_k as top_k_lib
from keras_distill.src.teachers.ensemble import probability_mixture
from keras_distill.src.teachers.teacher import fingerprint
from keras_distill.src.teachers.teacher import fingerprint_as_int64

INPUTS = "__inputs__"
TEACHER_OUTPUTS = "__teacher_outputs__"
FINGERPRINT = "__teacher_fingerprint__"
MEMBERS = "member_logits"
MEMBER_WEIGHTS = "member_weights"
PER_OUTPUT = "per_output"


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
    outputs = cached[TEACHER_OUTPUTS]
    if isinstance(outputs, dict) and PER_OUTPUT in outputs:
        return {
            name: _teacher_logits(entry, temperature, student_logits[name])
            for name, entry in outputs[PER_OUTPUT].items()
        }
    return _teacher_logits(outputs, temperature, student_logits)


def _teacher_logits(outputs, temperature, student_logits):
    """One output's stored teacher outputs as logits, checked against the
    student's output."""
    num_classes = student_logits.shape[-1]
    if num_classes is None:
        num_classes = ops.shape(student_logits)[-1]
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
