"""Export the student to Keras, SavedModel or TFLite, and check the exported file."""

from keras_distill.src.export.compare import compare_exported
from keras_distill.src.export.conversion_error import ConversionError
from keras_distill.src.export.export_student import export_student
from keras_distill.src.export.report import format_parity_table

__all__ = [
    "ConversionError",
    "compare_exported",
    "export_student",
    "format_parity_table",
]
