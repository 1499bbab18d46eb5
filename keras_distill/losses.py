"""Distillation losses: pure `keras.ops` functions and thin classes."""

from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.losses.kd import KLDivergence
from keras_distill.src.losses.kd import kl_divergence
from keras_distill.src.losses.keras_loss import KerasLoss
from keras_distill.src.losses.reduction import weighted_mean

__all__ = [
    "DistillationLoss",
    "KLDivergence",
    "KerasLoss",
    "kl_divergence",
    "weighted_mean",
]
