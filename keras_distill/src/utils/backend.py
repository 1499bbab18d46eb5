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

