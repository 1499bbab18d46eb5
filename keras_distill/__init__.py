"""keras-distill: knowledge distillation for Keras 3.

Public API only; the implementation lives in `keras_distill.src`.
"""

from keras_distill import callbacks
from keras_distill import losses
from keras_distill.src.distiller.distiller import Distiller

__version__ = "0.1.0"

__all__ = [
    "Distiller",
    "callbacks",
    "losses",
    "__version__",
]
