"""keras-distill: knowledge distillation for Keras 3.

Public API only; the implementation lives in `keras_distill.src`.
"""

from keras_distill import losses
from keras_distill import teachers
from keras_distill.src.distiller.distiller import Distiller
from keras_distill.src.teachers.cache import cache_teacher_outputs

__version__ = "0.1.0"

__all__ = [
    "Distiller",
    "cache_teacher_outputs",
    "losses",
    "teachers",
    "__version__",
]
