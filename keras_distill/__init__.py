"""keras-distill: knowledge distillation for Keras 3.

Public API only; the implementation lives in `keras_distill.src`.
"""

# First, before Keras is imported: the command line starts quietly.
from keras_distill.src.cli.quiet import quiet_start

quiet_start()


from keras_distill import callbacks
from keras_distill import datasets
from keras_distill import export
from keras_distill import losses
from keras_distill import schedules
from keras_distill import teachers
from keras_distill.export import compare_exported
from keras_distill.export import export_student
from keras_distill.export import format_parity_table
from keras_distill.src.distiller.distiller import Distiller
from keras_distill.src.distiller.on_policy import OnPolicy
from keras_distill.src.teachers.cache import cache_teacher_outputs
from keras_distill.src.teachers.generations import generate_teacher_dataset

__version__ = "0.1.0"


def __getattr__(name):
    # `keras_distill.tuning` needs the optional keras-tuner: imported on use.
    if name == "tuning":
        import importlib

        return importlib.import_module("keras_distill.tuning")
    raise AttributeError(f"module 'keras_distill' has no attribute {name!r}")


__all__ = [
    "Distiller",
    "OnPolicy",
    "cache_teacher_outputs",
    "callbacks",
    "compare_exported",
    "datasets",
    "export",
    "export_student",
    "format_parity_table",
    "generate_teacher_dataset",
    "losses",
    "schedules",
    "teachers",
    "tuning",
    "__version__",
]
