"""Distillation losses: pure `keras.ops` functions and thin classes."""

from keras_distill.src.losses.attention_transfer import AttentionTransfer
from keras_distill.src.losses.attention_transfer import attention_transfer
from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.losses.feature_base import FeatureLoss
from keras_distill.src.losses.hint import Hint
from keras_distill.src.losses.hint import hint_loss
from keras_distill.src.losses.kd import KLDivergence
from keras_distill.src.losses.kd import kl_divergence
from keras_distill.src.losses.keras_loss import KerasLoss
from keras_distill.src.losses.pkt import PKT
from keras_distill.src.losses.pkt import pkt
from keras_distill.src.losses.reduction import weighted_mean
from keras_distill.src.losses.rkd import RKD
from keras_distill.src.losses.rkd import rkd
from keras_distill.src.losses.rkd import rkd_angle
from keras_distill.src.losses.rkd import rkd_distance
from keras_distill.src.losses.similarity_preserving import SimilarityPreserving
from keras_distill.src.losses.similarity_preserving import similarity_preserving

__all__ = [
    "AttentionTransfer",
    "DistillationLoss",
    "FeatureLoss",
    "Hint",
    "KLDivergence",
    "KerasLoss",
    "PKT",
    "RKD",
    "SimilarityPreserving",
    "attention_transfer",
    "hint_loss",
    "kl_divergence",
    "pkt",
    "rkd",
    "rkd_angle",
    "rkd_distance",
    "similarity_preserving",
    "weighted_mean",
]
