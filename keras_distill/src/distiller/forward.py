"""The data path of a train step: batch -> teacher -> student -> loss.

`begin_train_step` runs everything before the student (unpacking the batch,
scheduled hyperparameters, the teacher in inference mode, or the batch's
cached teacher outputs); `train_loss` is the differentiated part (the
student's one forward pass and the loss). The backend's step module
(`distiller/steps/`) calls both and differentiates only the second.
"""

import keras
from keras import ops

from keras_distill.src.distiller import fused_head
from keras_distill.src.distiller import hyperparameters
from keras_distill.src.distiller import logs
from keras_distill.src.distiller import on_policy
from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.losses.base import PREDICTIONS
from keras_distill.src.models import lm_head
from keras_distill.src.models import vocabulary
from keras_distill.src.teachers import cached as teacher_cache
from keras_distill.src.teachers import teacher as teacher_lib
from keras_distill.src.utils.errors import invalid_argument


def teacher_outputs(distiller, x):
    """Teacher logits and tapped layers by source name, from one pass in
    inference mode, outside any gradient. The logits are deferred (the last
    hidden states and the head, `models/lm_head.py`) when the terms read
    them chunk by chunk."""
    count = distiller._shared_ids
    if distiller._teacher_head is not None:
        body, head = distiller._teacher_head
        hidden = body(x, training=False)
        return {OUTPUTS: lm_head.DeferredLogits(hidden, head, count)}
    if distiller._taps.extractors["teacher"] is None:
        logits = teacher_lib.teacher_forward(distiller._teacher_logits, x, distiller.temperature)
        return {OUTPUTS: vocabulary.leading_ids(logits, count)}
    outputs = dict(distiller._taps.forward("teacher", x, training=False))
    outputs[OUTPUTS] = vocabulary.leading_ids(
        distiller._teacher_logits.to_logits(outputs[OUTPUTS]), count
    )
    return keras.tree.map_structure(ops.stop_gradient, outputs)


def cached_teacher_outputs(distiller, cached, student_logits):
    """Teacher outputs of a batch from `cache_teacher_outputs`."""
    outputs = teacher_cache.cached_teacher_logits(
        cached, distiller.temperature, student_logits, terms=distiller._terms
    )
    return {OUTPUTS: outputs}


def student_outputs(distiller, x, training):
    """Student logits (`OUTPUTS`), predictions (`PREDICTIONS`: what the
    student returns) and tapped layers by source name, from one pass."""
    outputs = distiller._taps.forward("student", x, training=training)
    if distiller._shared_ids is None:
        return outputs
    outputs = dict(outputs)
    outputs[OUTPUTS] = vocabulary.leading_ids(outputs[OUTPUTS], distiller._shared_ids)
    return outputs


def begin_train_step(distiller, data):
    """Everything of a train step before the student runs.

    Returns:
        `(x, y, sample_weight, (teacher_outputs, cached))`: one of the last
        two is None.
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    x, cached = teacher_cache.split_cached_inputs(x)
    hyperparameters.update_scheduled(distiller)
    if distiller._sampling is not None:
        if cached is not None:
            raise invalid_argument(
                "on_policy", distiller._on_policy, "a Distiller whose teacher runs on its batches",
                "A cached batch holds the teacher's outputs on the dataset's tokens, not on "
                "the student's samples: train on the uncached data.",
            )
        x, y, sample_weight, sampled = on_policy.sample_batch(distiller, x, y, sample_weight)
        teacher = dict(distiller._teacher_forward(x), **{on_policy.SAMPLED: sampled})
        return x, y, sample_weight, (teacher, None)
    teacher = None if cached is not None else distiller._teacher_forward(x)
    return x, y, sample_weight, (teacher, cached)


def train_loss(distiller, x, y, sample_weight, teacher):
    """The differentiated part of a train step: the student's forward pass
    and the loss, scaled by the optimizer (for loss scaling).

    Args:
        teacher: `(teacher_outputs, cached)` from `begin_train_step`; a
            cached batch's teacher outputs are decoded here, against the
            student's logits.

    Returns:
        `(scaled_loss, y_pred)`.
    """
    teacher, cached = teacher
    head = fused_head.student_head(distiller, cached)
    if head is None:
        student = distiller._student_forward(x, training=True)
    else:  # The student's logits are never whole (`distiller/fused_head.py`).
        student = fused_head.student_outputs(head, x, training=True)
    y_pred = student[PREDICTIONS]
    if cached is not None:
        teacher = distiller._cached_teacher_forward(cached, student[OUTPUTS])
    loss = distiller.compute_loss(
        x=x,
        y=y,
        y_pred=y_pred,
        sample_weight=sample_weight,
        training=True,
        teacher_outputs=teacher,
        student_outputs=student,
    )
    logs.track_total_loss(distiller, loss, y_pred)
    return distiller.optimizer.scale_loss(loss), y_pred
