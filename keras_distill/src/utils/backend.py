"""What differs between Keras backends, and one error for what a backend
cannot do."""

import keras


def is_traced(value):
    """Whether `value` is a symbolic tensor inside a compiled step
    (`tf.function` or `jax.jit`), where Python cannot read its value."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.executing_eagerly()
    if backend == "jax":
        import jax

        return isinstance(value, jax.core.Tracer)
    return False


def unsupported_backend_error(feature, supported, fix=None):
    """The error for `feature` on a backend that cannot do it.

    Args:
        feature: What was asked, e.g. `"Exporting to TFLite"`.
        supported: The backends that can, e.g. `["tensorflow"]`.
        fix: What to do instead; by default, switch backend.

    Returns:
        A `RuntimeError` ready to be raised.
    """
    backend = keras.backend.backend()
    supported = list(supported)
    fix = fix or (
        f"Set the environment variable KERAS_BACKEND={supported[0]} before "
        "importing keras (e.g. `KERAS_BACKEND=" + supported[0] + " python "
        "train.py`)."
    )
    return RuntimeError(
        f"{feature} is not supported on the '{backend}' backend. "
        f"Supported backends: {supported}. {fix}"
    )


def require_tensorflow(feature):
    """Imports and returns `tensorflow`, or raises one clear error.

    For what needs TensorFlow itself whatever the Keras backend (TFLite and
    SavedModel export, `tf.data` pipelines).

    Args:
        feature: What needs it, e.g. `"Exporting to TFLite"`.
    """
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(
            f"{feature} needs TensorFlow, which is not installed (Keras "
            f"backend: '{keras.backend.backend()}'). Install it with "
            "`pip install keras-distill[tensorflow]` (or "
            "`pip install tensorflow`); the student trained on any backend "
            "can then be exported."
        ) from error
    return tf
