"""Distillation losses: pure `keras.ops` functions and thin classes."""

from keras_distill.src.losses.attention_transfer import AttentionTransfer
from keras_distill.src.losses.attention_transfer import attention_transfer
from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.losses.bernoulli import BernoulliKLDivergence
from keras_distill.src.losses.bernoulli import bernoulli_kl_divergence
from keras_distill.src.losses.dist import DIST
from keras_distill.src.losses.dist import dist_loss
from keras_distill.src.losses.dkd import DKD
from keras_distill.src.losses.dkd import decoupled_kd
from keras_distill.src.losses.feature_base import FeatureLoss
from keras_distill.src.losses.gkd import JensenShannon
from keras_distill.src.losses.gkd import ReverseKLDivergence
from keras_distill.src.losses.gkd import generalized_jensen_shannon
from keras_distill.src.losses.gkd import reverse_kl_divergence
from keras_distill.src.losses.hint import Hint
from keras_distill.src.losses.hint import hint_loss
from keras_distill.src.losses.kd import KLDivergence
from keras_distill.src.losses.kd import SoftTargetCrossEntropy
from keras_distill.src.losses.kd import kl_divergence
from keras_distill.src.losses.kd import soft_target_cross_entropy
from keras_distill.src.losses.keras_loss import KerasLoss
from keras_distill.src.losses.logit_matching import LogitCosine
from keras_distill.src.losses.logit_matching import LogitHuber
from keras_distill.src.losses.logit_matching import LogitMSE
from keras_distill.src.losses.logit_matching import logit_cosine
from keras_distill.src.losses.logit_matching import logit_huber
from keras_distill.src.losses.logit_matching import logit_mse
from keras_distill.src.losses.pkt import PKT
from keras_distill.src.losses.pkt import pkt
from keras_distill.src.losses.reduction import weighted_mean
from keras_distill.src.losses.rkd import RKD
from keras_distill.src.losses.rkd import rkd
from keras_distill.src.losses.rkd import rkd_angle
from keras_distill.src.losses.rkd import rkd_distance
from keras_distill.src.losses.similarity_preserving import SimilarityPreserving
from keras_distill.src.losses.similarity_preserving import similarity_preserving
from keras_distill.src.losses.softened import standardize_logits

__all__ = [
    "AttentionTransfer",
    "BernoulliKLDivergence",
    "DIST",
    "DKD",
    "DistillationLoss",
    "FeatureLoss",
    "Hint",
    "JensenShannon",
    "KLDivergence",
    "KerasLoss",
    "LogitCosine",
    "LogitHuber",
    "LogitMSE",
    "PKT",
    "RKD",
    "ReverseKLDivergence",
    "SimilarityPreserving",
    "SoftTargetCrossEntropy",
    "attention_transfer",
    "bernoulli_kl_divergence",
    "decoupled_kd",
    "dist_loss",
    "generalized_jensen_shannon",
    "hint_loss",
    "kl_divergence",
    "logit_cosine",
    "logit_huber",
    "logit_mse",
    "pkt",
    "reverse_kl_divergence",
    "rkd",
    "rkd_angle",
    "rkd_distance",
    "similarity_preserving",
    "soft_target_cross_entropy",
    "standardize_logits",
    "weighted_mean",
]
