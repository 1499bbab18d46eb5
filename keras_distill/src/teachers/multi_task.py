"""Several teachers, each for one output of a multi-output student."""

import keras

from keras_distill.src.teachers.callable_teacher import as_single_teacher
from keras_distill.src.teachers.ensemble import CombinedLogits
from keras_distill.src.teachers.ensemble import Ensemble
from keras_distill.src.teachers.ensemble import TeacherGroup
from keras_distill.src.teachers.ensemble import member_output_shape
from keras_distill.src.teachers.probabilities import TeacherLogits
from keras_distill.src.teachers.probabilities import check_mode
from keras_distill.src.utils.errors import invalid_argument


def _as_member(teacher, teacher_outputs):
    if isinstance(teacher, (list, tuple)):
        return Ensemble(list(teacher), teacher_outputs=teacher_outputs)
    if isinstance(teacher, Ensemble):
        return teacher
    if isinstance(teacher, MultiTask):
        raise invalid_argument(
            "teacher", teacher, "one teacher per output, not a MultiTask inside a MultiTask",
            "List every output in one dict {output_name: teacher}.",
        )
    return as_single_teacher(teacher, argument="teacher")


@keras.saving.register_keras_serializable(package="keras_distill")
class MultiTask(TeacherGroup):
    """One frozen teacher per output of a multi-output student.

    `Distiller(teacher={"digit": t1, "parity": t2}, student=...)` builds one:
    each teacher gives the soft targets of the student's output of that name
    (its dict key, or the output layer's name), and every student output
    without a teacher gets only its hard-label loss. The layer returns the
    dict `{output_name: logits}`, so the per-output terms, their logs, the
    cache (`cache_teacher_outputs`) and export work as for one teacher with
    the same outputs. Each teacher runs once per step.

    A teacher may itself be a list (an `Ensemble`), an `Ensemble` or a plain
    callable `inputs -> logits`; one that ends in a softmax is read before
    it, as the Distiller reads a single teacher (`teacher_outputs`).

    Args:
        teachers: A non-empty dict `{output_name: teacher}`.
        teacher_outputs: What the teachers output: `"auto"`, `"logits"` or
            `"probabilities"` (as the Distiller's argument of that name).
        **kwargs: Passed to `keras.layers.Layer` (e.g. `name`).

    Example:

    ```python
    teacher = {"digit": digit_classifier, "parity": [parity_a, parity_b]}
    distiller = keras_distill.Distiller(teacher=teacher, student=two_headed_student)
    ```
    """

    def __init__(self, teachers, teacher_outputs="auto", **kwargs):
        kwargs.setdefault("name", "multi_task")
        super().__init__(**kwargs)
        if not isinstance(teachers, dict) or not teachers or not all(
            isinstance(key, str) for key in teachers
        ):
            raise invalid_argument(
                "teacher", teachers, "a non-empty dict {output_name: teacher}",
                "Name each output of the student that a teacher distills.",
            )
        self.teacher_outputs = check_mode(teacher_outputs)
        self.teachers = {
            name: _as_member(teacher, teacher_outputs) for name, teacher in teachers.items()
        }
        # Plain objects, which Keras neither tracks nor saves.
        self.logits_readers = {
            name: _reader(teacher, teacher_outputs) for name, teacher in self.teachers.items()
        }
        self.trainable = False

    @property
    def output(self):
        """Symbolic `{output_name: logits}` (shapes where known), for the
        Distiller's checks of what each term compares."""
        outputs = {}
        for name, teacher in self.teachers.items():
            shape = (teacher.output_shape_hint if isinstance(teacher, Ensemble)
                     else member_output_shape(teacher))
            outputs[name] = keras.KerasTensor(shape if shape is not None else (None, None))
        return outputs

    def call(self, inputs, training=False, temperature=1.0):
        return {
            name: reader(inputs, temperature) for name, reader in self.logits_readers.items()
        }

    def check_outputs(self, inputs):
        """Each teacher's check that its outputs are not probabilities."""
        for reader in self.logits_readers.values():
            reader.check_outputs(inputs)


def _reader(teacher, teacher_outputs):
    if isinstance(teacher, Ensemble):
        return CombinedLogits(teacher)
    return TeacherLogits(teacher, teacher_outputs)
