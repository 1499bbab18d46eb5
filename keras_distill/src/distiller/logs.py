"""What a Distiller logs: its loss trackers and the logs of each step.

Trackers (`keras.metrics.Mean`, reset by Keras every epoch): `loss` (Keras's
own), `student_loss`, `<output>_student_loss` for a per-output student loss,
`distillation_loss`, and one per term when there are several. Train steps
also log `temperature` and `alpha`. Without labels nothing that needs labels
(student losses, compiled metrics) is logged; evaluation logs no
distillation term.
"""

import keras
from keras import ops

from keras_distill.src.distiller import finite
from keras_distill.src.distiller import replicas
from keras_distill.src.utils import keras_compat
from keras_distill.src.utils.keras_compat import unscale_loss_for_distribution


def set_student_trackers(distiller):
    """One `<output>_student_loss` tracker per output with a loss."""
    for tracker in distiller._student_output_trackers:
        keras_compat.untrack(distiller, tracker)
    student_loss = distiller._student_loss
    names = student_loss.names if student_loss.per_output else []
    with replicas.strategy_scope(distiller):
        distiller._student_output_trackers = [
            keras.metrics.Mean(name=f"{name}_student_loss") for name in names
        ]


def set_term_trackers(distiller, terms):
    """One tracker per term, when there are several."""
    for tracker in distiller._term_trackers:
        keras_compat.untrack(distiller, tracker)
    with replicas.strategy_scope(distiller):
        distiller._term_trackers = (
            [keras.metrics.Mean(name=term.name) for term in terms] if len(terms) > 1 else []
        )


def track_total_loss(distiller, loss, y_pred):
    """Feeds Keras's `loss` tracker the step's loss (unscaled)."""
    keras_compat.loss_tracker(distiller).update_state(
        unscale_loss_for_distribution(loss),
        sample_weight=replicas.mean_batch_size(y_pred),
    )


def train_logs(distiller, y, y_pred, sample_weight):
    """The logs of a train step, after the weights were updated (a NaN
    `loss` when the student's outputs or weights are not finite)."""
    finite.mark_loss(
        keras_compat.loss_tracker(distiller),
        finite.all_finite([*keras.tree.flatten(y_pred), *distiller.trainable_weights]),
    )
    logs = metric_logs(distiller, y, y_pred, sample_weight)
    logs["temperature"] = ops.convert_to_tensor(distiller.temperature)
    logs["alpha"] = ops.convert_to_tensor(distiller.alpha)
    return replicas.step_logs(logs)


def test_logs(distiller, data):
    """The body of `test_step`, shared by every backend: the student alone."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    y_pred = distiller(x, training=False)
    loss = distiller.compute_loss(
        x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False
    )
    track_total_loss(distiller, loss, y_pred)
    logs = metric_logs(
        distiller,
        y,
        y_pred,
        sample_weight,
        exclude=[distiller._distillation_loss_tracker, *distiller._term_trackers],
    )
    return replicas.step_logs(logs)


def metric_logs(distiller, y, y_pred, sample_weight, exclude=()):
    """Results of this step's metrics, the compiled metrics updated."""
    exclude = list(exclude)
    compile_metrics = keras_compat.compile_metrics(distiller)
    if y is None:
        exclude += [
            distiller._student_loss_tracker,
            *distiller._student_output_trackers,
            compile_metrics,
        ]
    elif compile_metrics is not None:
        compile_metrics.update_state(y, y_pred, sample_weight)
    return metric_results(distiller, exclude)


def metric_results(distiller, exclude=()):
    """`{name: result}` of the Distiller's metrics, but `exclude`."""
    logs = {}
    for metric in distiller.metrics:
        if any(metric is other for other in exclude):
            continue
        if not getattr(metric, "built", True):
            continue  # Compiled metrics never fed (no labels so far).
        result = metric.result()
        if isinstance(result, dict):
            logs.update(result)
        else:
            logs[metric.name] = result
    return logs


def python_results(distiller):
    """What `keras.Model.get_metrics_result` returns: the results as Python
    floats, here without the loss trackers not fed since their last reset
    (evaluation feeds no distillation term, data without labels no student
    loss), so the keys are those of the last step's logs and Keras reports
    these results rather than the step's tensors."""
    trackers = [
        distiller._student_loss_tracker,
        distiller._distillation_loss_tracker,
        *distiller._term_trackers,
        *distiller._student_output_trackers,
    ]
    idle = [tracker for tracker in trackers if float(ops.convert_to_numpy(tracker.count)) == 0]
    return {
        name: float(ops.convert_to_numpy(value))
        for name, value in metric_results(distiller, exclude=idle).items()
    }
