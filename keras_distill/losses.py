"""Distillation losses: pure `keras.ops` functions and thin classes."""

from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.losses.bernoulli import BernoulliKLDivergence
from keras_distill.src.losses.bernoulli import bernoulli_kl_divergence
from keras_distill.src.losses.dist import DIST
from keras_distill.src.losses.dist import dist_loss
from keras_distill.src.losses.dkd import DKD
from keras_distill.src.losses.dkd import decoupled_kd
from keras_distill.src.losses.gkd import JensenShannon
from keras_distill.src.losses.gkd import ReverseKLDivergence
from keras_distill.src.losses.gkd import generalized_jensen_shannon
from keras_distill.src.losses.gkd import reverse_kl_divergence
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
from keras_distill.src.losses.reduction import weighted_mean
from keras_distill.src.losses.softened import standardize_logits

__all__ = [
    "DIST",
    "DKD",
    "BernoulliKLDivergence",
    "DistillationLoss",
    "JensenShannon",
    "KLDivergence",
    "KerasLoss",
    "LogitCosine",
    "LogitHuber",
    "LogitMSE",
    "ReverseKLDivergence",
    "SoftTargetCrossEntropy",
    "bernoulli_kl_divergence",
    "decoupled_kd",
    "dist_loss",
    "generalized_jensen_shannon",
    "kl_divergence",
    "logit_cosine",
    "logit_huber",
    "logit_mse",
    "reverse_kl_divergence",
    "soft_target_cross_entropy",
    "standardize_logits",
    "weighted_mean",
]
