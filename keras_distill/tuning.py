"""Automated distillation on KerasTuner (`pip install "keras-distill[tune]"`)."""

from keras_distill.src.tuning.hypermodel import DistillationHyperModel

__all__ = ["DistillationHyperModel"]
