"""The first fields of every results.json: what ran, on what, with which versions."""

import platform
import sys

import keras


def versions():
    import tensorflow as tf

    import keras_distill

    return {
        "keras_distill": keras_distill.__version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "backend": keras.backend.backend(),
    }


def header(command, args, data):
    """`command`, `argv`, `versions` and `dataset` fields."""
    return {
        "command": command,
        "argv": sys.argv[1:] if getattr(args, "argv", None) is None else list(args.argv),
        "versions": versions(),
        "dataset": {
            "name": data.name,
            "source": data.source,
            "num_classes": data.num_classes,
            "input_shape": list(data.input_shape),
            "num_train": data.num_train,
            "num_test": data.num_test,
        },
    }
