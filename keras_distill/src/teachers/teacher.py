"""What the Distiller needs from its teacher: resolution, forward, fingerprint."""

import hashlib
import json

import keras
import numpy as np
from keras import ops

from keras_distill.src.teachers.callable_teacher import CallableTeacher
from keras_distill.src.teachers.callable_teacher import as_single_teacher
from keras_distill.src.teachers.ensemble import CombinedLogits
from keras_distill.src.teachers.ensemble import Ensemble
from keras_distill.src.teachers.ensemble import member_output_shape
from keras_distill.src.teachers.multi_task import MultiTask
from keras_distill.src.teachers.probabilities import TeacherLogits
from keras_distill.src.teachers.probabilities import check_mode
from keras_distill.src.utils.errors import invalid_argument


def as_teacher(teacher, teacher_outputs="auto"):
    """Normalizes the Distiller's `teacher` argument into a frozen layer.

    `None` stays `None` (training from cached outputs only); a list or tuple
    becomes an `Ensemble` with uniform weights (each member read as
    `teacher_outputs` says); a dict `{output_name: teacher}` a `MultiTask`;
    a plain callable is wrapped in a
    `CallableTeacher`; anything else raises. A Keras teacher that was never
    built (so never trained) is refused.
    """
    check_mode(teacher_outputs)
    if teacher is None:
        return None
    if isinstance(teacher, (list, tuple)):
        return Ensemble(list(teacher), teacher_outputs=teacher_outputs)
    if isinstance(teacher, dict):
        return MultiTask(teacher, teacher_outputs=teacher_outputs)
    if isinstance(teacher, (Ensemble, MultiTask)):
        if teacher_outputs not in ("auto", teacher.teacher_outputs):
            raise invalid_argument(
                "teacher_outputs",
                teacher_outputs,
                f"'auto' for an {type(teacher).__name__}, which has its own "
                f"teacher_outputs={teacher.teacher_outputs!r}",
                f"Pass {type(teacher).__name__}(..., teacher_outputs={teacher_outputs!r}) "
                "instead.",
            )
        return teacher
    return as_single_teacher(teacher)


def includes(teacher, model):
    """Whether `model` is the `teacher` argument or one of its members."""
    if isinstance(teacher, dict):
        return any(includes(member, model) for member in teacher.values())
    if isinstance(teacher, MultiTask):
        return includes(teacher.teachers, model)
    if isinstance(teacher, (list, tuple)):
        return any(member is model for member in teacher)
    if isinstance(teacher, Ensemble):
        return any(member is model for member in teacher.teachers)
    return teacher is model


def logits_of(teacher, teacher_outputs="auto"):
    """What reads the logits of `teacher` (from `as_teacher`), a callable
    `(inputs, temperature) -> logits` with `check_outputs(inputs)`; None
    without a teacher."""
    if teacher is None:
        return None
    if isinstance(teacher, (Ensemble, MultiTask)):
        return CombinedLogits(teacher)
    return TeacherLogits(teacher, teacher_outputs)


def teacher_forward(logits, inputs, temperature):
    """The teacher's logits for `inputs`, in inference mode, no gradient.

    Args:
        logits: From `logits_of`. An ensemble is given the step's
            `temperature` (a variable, read now).
        inputs: A batch of inputs.
        temperature: The step's temperature.
    """
    if logits is None:
        raise ValueError(
            "The Distiller has no teacher (teacher=None) and this batch holds "
            "no cached teacher outputs. Either pass `teacher=` to the "
            "Distiller, or fit on a dataset made by "
            "`keras_distill.cache_teacher_outputs(teacher, dataset)`."
        )
    outputs = logits(inputs, temperature)
    return keras.tree.map_structure(ops.stop_gradient, outputs)


def static_output_shape(teacher):
    """Static output shape of the teacher (ensembles included), or None."""
    if isinstance(teacher, Ensemble):
        return teacher.output_shape_hint
    return member_output_shape(teacher)


def _variables(teacher):
    if isinstance(teacher, MultiTask):
        return [v for member in teacher.teachers.values() for v in _variables(member)]
    if isinstance(teacher, Ensemble):
        return [v for member in teacher.teachers for v in _variables(member)]
    if isinstance(teacher, CallableTeacher):
        return teacher.external_variables()
    return list(teacher.weights)


def fingerprint(teacher):
    """A 16-hex-digit digest of the teacher's weight values, or None.

    Hashes every weight's shape, dtype and bytes in order (names are left
    out: Keras renames layers between sessions). An ensemble also hashes its
    mixture weights and combine mode. A plain function without variables has
    nothing to hash and returns None.
    """
    variables = _variables(teacher)
    if not variables:
        return None
    digest = hashlib.sha256()
    if isinstance(teacher, Ensemble):
        digest.update(json.dumps([teacher.combine, teacher.mixture_weights]).encode())
    if isinstance(teacher, MultiTask):
        digest.update(json.dumps(list(teacher.teachers)).encode())
    for variable in variables:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable))
        digest.update(f"{value.shape}{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]


def fingerprint_as_int64(digest):
    """The fingerprint as a signed int64 (0 when there is none)."""
    if digest is None:
        return 0
    return int(digest, 16) - 2**63 if int(digest, 16) >= 2**63 else int(digest, 16)
