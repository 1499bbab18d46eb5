"""Bad input fails at construction or compile, with a message that helps."""

import re

import keras
import pytest

import keras_distill as kd
from tests.distiller import helpers as h


def test_output_shape_mismatch_names_both_shapes():
    teacher = h.mlp(8, "teacher", num_classes=4)
    student = h.mlp(3, "student", num_classes=5)
    with pytest.raises(ValueError) as info:
        kd.Distiller(teacher=teacher, student=student)
    message = str(info.value)
    assert "(None, 4)" in message and "(None, 5)" in message
    assert "teacher output shape" in message and "student" in message


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), "4"])
def test_bad_temperature(temperature):
    teacher, student = h.teacher_and_student()
    with pytest.raises(ValueError, match=re.escape(f"temperature={temperature!r}")):
        kd.Distiller(teacher=teacher, student=student, temperature=temperature)
    distiller = kd.Distiller(teacher=teacher, student=student)
    with pytest.raises(ValueError, match="Invalid value for argument `temperature`"):
        distiller.compile(optimizer="sgd", temperature=temperature)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_outside_unit_interval(alpha):
    teacher, student = h.teacher_and_student()
    with pytest.raises(ValueError, match=r"alpha=.*Expected a finite number in \[0, 1\]"):
        kd.Distiller(teacher=teacher, student=student, alpha=alpha)
    distiller = kd.Distiller(teacher=teacher, student=student)
    with pytest.raises(ValueError, match="`alpha`"):
        distiller.compile(optimizer="sgd", alpha=alpha)


def test_teacher_or_student_not_a_keras_model():
    _, student = h.teacher_and_student()
    with pytest.raises(ValueError, match="Invalid value for argument `teacher`.*Keras model"):
        kd.Distiller(teacher="teacher.keras", student=student)
    with pytest.raises(ValueError, match="Invalid value for argument `student`"):
        kd.Distiller(teacher=student, student=object())


def test_teacher_given_as_student():
    _, student = h.teacher_and_student()
    with pytest.raises(ValueError, match="a model other than the student"):
        kd.Distiller(teacher=student, student=student)


def test_bad_distillation_loss_and_weights():
    teacher, student = h.teacher_and_student()
    with pytest.raises(ValueError, match="distillation_loss_fn"):
        kd.Distiller(teacher=teacher, student=student, distillation_loss_fn=42)
    with pytest.raises(ValueError, match="a list of 2 numbers"):
        kd.Distiller(
            teacher=teacher,
            student=student,
            distillation_loss_fn=[kd.losses.KLDivergence(), keras.losses.KLDivergence()],
            distillation_loss_weights=[1.0],
        )
    with pytest.raises(ValueError, match="distinct names"):
        kd.Distiller(
            teacher=teacher,
            student=student,
            distillation_loss_fn=[kd.losses.KLDivergence(), kd.losses.KLDivergence()],
        )


def test_term_temperature_is_validated():
    with pytest.raises(ValueError, match="temperature=0"):
        kd.losses.KLDivergence(temperature=0)
