"""Teachers: ensembles, one teacher per output (multi-task), plain callables
and SavedModels, cached outputs."""

from keras_distill.src.teachers.cache import cache_teacher_outputs
from keras_distill.src.teachers.callable_teacher import CallableTeacher
from keras_distill.src.teachers.ensemble import Ensemble
from keras_distill.src.teachers.ensemble import log_mixture
from keras_distill.src.teachers.ensemble import probability_mixture
from keras_distill.src.teachers.multi_task import MultiTask
from keras_distill.src.teachers.teacher import fingerprint
from keras_distill.src.teachers.top_k import bytes_per_position
from keras_distill.src.teachers.top_k import dense_logits
from keras_distill.src.teachers.top_k import top_k_logits

__all__ = [
    "CallableTeacher",
    "Ensemble",
    "MultiTask",
    "bytes_per_position",
    "cache_teacher_outputs",
    "dense_logits",
    "fingerprint",
    "log_mixture",
    "probability_mixture",
    "top_k_logits",
]
