"""Installing what `__init__` and `compile` are given: losses, terms,
weights, temperature and alpha, feature taps and adapters.

`compile` may change any of them; what it leaves as `None` keeps its value
(`compile_arguments`). Everything is validated here, before the first step:
shapes of what each term reads, layer names, hyperparameter values.
"""

import keras

from keras_distill.src.distiller import adapters as adapters_lib
from keras_distill.src.distiller import feature_taps
from keras_distill.src.distiller import fused_head
from keras_distill.src.distiller import hyperparameters
from keras_distill.src.distiller import logs
from keras_distill.src.distiller import outputs as outputs_lib
from keras_distill.src.distiller import student_loss as student_loss_lib
from keras_distill.src.distiller import terms as terms_lib
from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.models import lm_head
from keras_distill.src.models import vocabulary
from keras_distill.src.teachers import teacher as teacher_lib
from keras_distill.src.teachers.multi_task import MultiTask
from keras_distill.src.teachers.probabilities import TeacherLogits
from keras_distill.src.utils import keras_compat
from keras_distill.src.utils.errors import invalid_argument


def check_model(model, argument):
    if not isinstance(model, keras.layers.Layer):
        raise invalid_argument(
            argument,
            model,
            "a Keras model (keras.Model or keras.layers.Layer)",
            f"Build the {argument} with Keras 3, or load it with "
            "keras.models.load_model / keras.layers.TFSMLayer.",
        )


def uses_float16(model):
    """True when the model or any of its layers computes in float16."""
    return any(
        getattr(layer, "compute_dtype", None) == "float16"
        for layer in keras_compat.all_layers(model)
    )


def configure(distiller, student_loss_fn, loss_weights, distillation_loss_fn,
              distillation_loss_weights, alpha, temperature):
    """Validates and installs losses and hyperparameters."""
    distiller._shared_ids = vocabulary.shared_ids(distiller.teacher, distiller.student)
    _check_multi_task(distiller.teacher, distiller.student)
    distiller._student_loss = student_loss_lib.StudentLoss(
        student_loss_fn, loss_weights, distiller.student
    )
    student_loss_lib.check_logits_outputs(distiller._student_loss, distiller.student)
    logs.set_student_trackers(distiller)
    terms = terms_lib.as_terms(distillation_loss_fn, distiller.student, distiller.teacher)
    weights = terms_lib.as_weights(distillation_loss_weights, terms)
    hyperparameters.set_value(distiller, "temperature", temperature)
    hyperparameters.set_value(distiller, "alpha", alpha)
    taps = distiller._taps
    if taps is None or not taps.same_paths(terms):
        distiller._taps = feature_taps.FeatureTaps(
            distiller.teacher,
            distiller.student,
            terms,
            split_teacher_heads=getattr(distiller._teacher_logits, "split_heads", False),
        )
    for term in terms:
        term.validate_shapes(*_term_shapes(distiller, term))
    distiller._terms = terms
    distiller._teacher_head = _deferrable_head(distiller, terms)
    distiller._student_head = fused_head.find_student_head(distiller, terms)
    hyperparameters.set_term_weights(distiller, terms, weights)
    logs.set_term_trackers(distiller, terms)
    _set_adapters(distiller, terms)


def _check_multi_task(teacher, student):
    """Every output named by a `MultiTask` teacher is one of the student's."""
    if not isinstance(teacher, MultiTask):
        return
    names = [name for _, name in outputs_lib.model_outputs(student) or []]
    unknown = [name for name in teacher.teachers if name not in names]
    if unknown:
        raise invalid_argument(
            "teacher",
            list(teacher.teachers),
            f"keys naming outputs of the student, whose outputs are {names}; "
            f"{unknown} is not one of them",
            "Key each teacher by the name of the student output it distills "
            "(a dict output's key, or the output layer's name).",
        )


def _deferrable_head(distiller, terms):
    """The teacher's `(body, head)` when every term reads its logits chunk
    by chunk (`models/lm_head.py`): then they are never computed whole."""
    reader = distiller._teacher_logits
    plain = isinstance(reader, TeacherLogits) and not (
        reader.split_heads or reader.log_probabilities
    )
    if not plain or distiller._taps.extractors["teacher"] is not None:
        return None
    if not all(getattr(term.fn, "reads_deferred_logits", False) for term in terms):
        return None
    return lm_head.find_linear_head(distiller.teacher)


def compile_arguments(distiller, student_loss_fn=None, loss=None, loss_weights=None,
                      distillation_loss_fn=None, distillation_loss_weights=None,
                      alpha=None, temperature=None):
    """`configure`'s arguments for `compile`: those left as None keep the
    current values (term weights too, unless the terms change)."""
    if loss is not None and student_loss_fn is not None:
        raise invalid_argument(
            "loss",
            loss,
            "None when `student_loss_fn` is given",
            "`loss` is an alias of `student_loss_fn`: pass only one.",
        )
    if loss is not None:
        student_loss_fn = loss
    if student_loss_fn is None and loss_weights is None:
        loss_weights = distiller._student_loss.loss_weights
    if distillation_loss_weights is None and distillation_loss_fn is None:
        distillation_loss_weights = hyperparameters.term_weight_values(distiller)
    given = distiller._given
    return {
        "student_loss_fn": (
            distiller._student_loss.loss_fn if student_loss_fn is None else student_loss_fn
        ),
        "loss_weights": loss_weights,
        "distillation_loss_fn": (
            distiller._terms if distillation_loss_fn is None else distillation_loss_fn
        ),
        "distillation_loss_weights": distillation_loss_weights,
        "alpha": given["alpha"] if alpha is None else alpha,
        "temperature": given["temperature"] if temperature is None else temperature,
    }


def _term_shapes(distiller, term):
    """Static (teacher, student) shapes of what `term` reads, or None each."""
    if term.teacher_source == OUTPUTS and term.student_source == OUTPUTS:
        teacher_shape, student_shape = terms_lib.term_shapes(
            term, distiller.teacher, distiller.student
        )
        if teacher_shape is None and term.output is None and distiller.teacher is not None:
            teacher_shape = teacher_lib.static_output_shape(distiller.teacher)
        count = distiller._shared_ids
        return (
            vocabulary.leading_ids_shape(teacher_shape, count),
            vocabulary.leading_ids_shape(student_shape, count),
        )
    return (
        distiller._taps.shape("teacher", term.teacher_source),
        distiller._taps.shape("student", term.student_source),
    )


def _set_adapters(distiller, terms):
    """Creates the feature adapters the terms need (kept if unchanged)."""
    adapters = adapters_lib.build_adapters(terms, distiller._taps, distiller._adapters)
    kept = [id(adapter) for adapter in adapters.values()]
    for adapter in distiller._adapters.values():
        if id(adapter) not in kept:
            keras_compat.untrack(distiller, adapter)
    distiller._adapters = adapters
