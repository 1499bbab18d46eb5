"""The benchmark parts that depend on keras-distill features from other branches.

Each function either returns what the benchmarks need or raises
`Unavailable` with the reason (the feature has not landed yet, or the backend
cannot run it). The scripts catch `Unavailable` and report the row as
skipped with that reason, so they keep running end to end while the library
grows. When a feature lands, only the function here changes.
"""

import keras

import keras_distill as kd
from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.losses.base import PREDICTIONS


class Unavailable(Exception):
    """A benchmark row cannot run here; the message says why."""


def _require(module, name, branch):
    value = getattr(module, name, None)
    if value is None:
        raise Unavailable(
            f"`{module.__name__}.{name}` is not in this checkout (it comes "
            f"with the `{branch}` branch)."
        )
    return value


def check_backend():
    """`keras_distill.Distiller` trains on TensorFlow, JAX and PyTorch; skip
    cleanly on any other Keras backend."""
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax", "torch"):
        raise Unavailable(
            "keras_distill.Distiller trains on the tensorflow, jax and torch "
            f"backends; KERAS_BACKEND={backend}."
        )


# ----------------------------------------------------------------------
# Losses (branch `losses`)
# ----------------------------------------------------------------------


def kl_divergence():
    return kd.losses.KLDivergence()


def standardized_kl_divergence():
    """KL on z-scored logits (Sun et al., CVPR 2024)."""
    try:
        return kd.losses.KLDivergence(standardize=True)
    except TypeError as error:
        raise Unavailable(
            "`KLDivergence(standardize=True)` is not in this checkout (it "
            "comes with the `losses` branch)."
        ) from error


def dkd(**kwargs):
    """Decoupled KD (Zhao et al., CVPR 2022). It needs hard labels."""
    return _require(kd.losses, "DKD", "losses")(**kwargs)


def dist(**kwargs):
    """DIST: inter- and intra-class Pearson correlation (Huang et al., 2022)."""
    return _require(kd.losses, "DIST", "losses")(**kwargs)


# ----------------------------------------------------------------------
# Feature terms (branch `features`)
# ----------------------------------------------------------------------


def hint(teacher_layer, student_layer):
    """A FitNets hint term on one pair of layers (with its own adapter)."""
    return _require(kd.losses, "Hint", "features")(
        teacher_layer=teacher_layer, student_layer=student_layer
    )


# ----------------------------------------------------------------------
# Cached teacher outputs (branch `teachers`)
# ----------------------------------------------------------------------


def cache_teacher_outputs(teacher, dataset):
    """`kd.cache_teacher_outputs(teacher, dataset)`: a dataset the
    Distiller trains on without running the teacher."""
    return _require(kd, "cache_teacher_outputs", "teachers")(
        teacher, dataset, verbose=0)


# ----------------------------------------------------------------------
# Precomputed logits, for the accuracy runs
# ----------------------------------------------------------------------
#
# The accuracy benchmark trains ~70 students from one fixed teacher without
# data augmentation, so the teacher's logits of an image never change. To fit
# the compute budget, both libraries read them from the batch instead of
# running the teacher: x = {"image": ..., "teacher_logits": ...}. These two
# subclasses override only where the teacher's outputs come from; every loss,
# weighting and training-step line is the library's own. (Speed is measured
# separately, with the teacher running, in benchmarks/speed.py.)

IMAGE = "image"
TEACHER_LOGITS = "teacher_logits"


class OursOnLogits(kd.Distiller):
    """keras_distill.Distiller reading the teacher's logits from the batch."""

    def call(self, inputs, training=None):
        return self.student(inputs[IMAGE], training=training)

    def _teacher_forward(self, x):
        return {OUTPUTS: x[TEACHER_LOGITS]}

    def _student_forward(self, x, training):
        outputs = self.student(x[IMAGE], training=training)
        return {OUTPUTS: outputs, PREDICTIONS: outputs}


class BuiltinOnLogits(keras.distillation.Distiller):
    """keras.distillation.Distiller reading the teacher's logits from the
    batch (its `_extract_all_teacher_features` is where it runs the teacher)."""

    def call(self, inputs, training=None, **kwargs):
        return self.student(inputs[IMAGE], training=training, **kwargs)

    def _extract_all_teacher_features(self, x):
        return {"final_output": x[TEACHER_LOGITS]}
