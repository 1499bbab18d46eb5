"""The loss of one step: student loss, distillation terms, the student's own losses.

    alpha * student_loss + (1 - alpha) * sum_i weight_i * term_i + own losses

(without labels, the distillation terms alone; in evaluation, the student
loss alone), each term a weighted per-example mean, all in float32. The
student's own losses (`kernel_regularizer`, `activity_regularizer`,
`add_loss`, also of adapters) are added once, unweighted by `alpha`, as
`keras.Model.fit` adds them. A fused step (`distiller/fused_head.py`)
computes the student loss and the KL term from the student's hidden states,
then weighs them the same way.
"""

from keras import ops

from keras_distill.src.distiller import fused_head
from keras_distill.src.distiller import on_policy
from keras_distill.src.distiller import replicas
from keras_distill.src.distiller import student_loss as student_loss_lib
from keras_distill.src.distiller import terms as terms_lib
from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.utils.keras_compat import get_keras_mask
from keras_distill.src.utils.keras_compat import scale_loss_for_distribution


def _student_loss(distiller, means, batch_size):
    for tracker, mean in zip(distiller._student_output_trackers, means):
        tracker.update_state(mean, sample_weight=batch_size)
    value = distiller._student_loss.total(means)
    distiller._student_loss_tracker.update_state(value, sample_weight=batch_size)
    return value


def _term_values(distiller, y, sample_weight, teacher_outputs, student_outputs):
    mask = get_keras_mask(student_outputs[OUTPUTS])
    return [
        terms_lib.term_value(
            term,
            teacher_outputs,
            student_outputs,
            adapter=distiller._adapters.get(term.name),
            temperature=distiller.temperature,
            y=y,
            sample_weight=sample_weight,
            mask=mask,
        )
        for term in distiller._terms
    ]


def _distillation_loss(distiller, values, batch_size):
    total = ops.zeros((), dtype="float32")
    for index, value in enumerate(values):
        if distiller._term_trackers:
            distiller._term_trackers[index].update_state(value, sample_weight=batch_size)
        total += distiller._term_weights[index] * value
    distiller._distillation_loss_tracker.update_state(total, sample_weight=batch_size)
    return total


def total_loss(distiller, y, y_pred, sample_weight, teacher_outputs=None,
               student_outputs=None):
    """The step's loss (see the module docstring), per-term values written
    to the Distiller's trackers.

    Returns:
        A float32 scalar, scaled for `tf.distribute` like Keras's own
        `compute_loss` (divided by the number of replicas).
    """
    has_labels = y is not None and bool(distiller._student_loss)
    batch_size = replicas.mean_batch_size(y_pred)
    if fused_head.is_fused(student_outputs):
        means, term_values = fused_head.loss_means(
            distiller, y if has_labels else None, sample_weight, teacher_outputs,
            student_outputs,
        )
    else:
        means = distiller._student_loss.values(y, y_pred, sample_weight) if has_labels else []
        term_values = None
    # A batch of the student's own samples has no student loss (on_policy.py).
    sampled = on_policy.sampled_flag(teacher_outputs)
    kept = 1.0 if sampled is None else 1.0 - sampled
    student = _student_loss(distiller, means, batch_size * kept) if has_labels else 0.0
    own = student_loss_lib.regularization_loss(
        [distiller.student, *distiller._adapters.values()]
    )
    if teacher_outputs is None:
        return scale_loss_for_distribution(student + own)
    if student_outputs is None:
        student_outputs = {OUTPUTS: y_pred}
    if term_values is None:
        term_values = _term_values(
            distiller, y, sample_weight, teacher_outputs, student_outputs
        )
    distillation = _distillation_loss(distiller, term_values, batch_size)
    if has_labels:
        alpha = ops.cast(distiller.alpha, "float32")
        total = alpha * kept * student + (1.0 - alpha) * distillation
    else:
        total = distillation
    return scale_loss_for_distribution(total + own)
