"""The test backend: marks for tests that need one backend's machinery, and
autodiff on whichever backend runs.

The backend is chosen before keras is imported (`tests/conftest.py`), so
`KERAS_BACKEND=jax python -m pytest tests/distiller` runs on JAX.
"""

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()



def only_on_tensorflow(reason):
    """Skips a test on the other backends, saying why."""
    return pytest.mark.skipif(
        BACKEND != "tensorflow", reason=f"{reason}; running on '{BACKEND}'"
    )


tensorflow_only = only_on_tensorflow(
    "needs TensorFlow itself (tf.function, tf.Module, SavedModel or tf.distribute)"
)

traced_step = pytest.mark.skipif(
    BACKEND == "torch",
    reason="counts traces of a compiled step; the PyTorch step runs eagerly",
)


def value_and_gradient(fn, x):
    """`fn(x)` and its gradient with respect to `x`, as NumPy, computed with
    the current backend's autodiff.

    Args:
        fn: `tensor -> scalar tensor`, written with `keras.ops`.
        x: A NumPy array (float32).
    """
    x = np.asarray(x, "float32")
    if BACKEND == "tensorflow":
        import tensorflow as tf

        variable = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = fn(variable)
        return value.numpy(), tape.gradient(value, variable).numpy()
    if BACKEND == "jax":
        import jax

        value, gradient = jax.value_and_grad(fn)(jax.numpy.asarray(x))
        return np.asarray(value), np.asarray(gradient)
    if BACKEND == "torch":
        import torch

        tensor = torch.tensor(x, requires_grad=True)
        value = fn(tensor)
        value.backward()
        return value.detach().numpy(), tensor.grad.numpy()
    raise NotImplementedError(f"No autodiff for the '{BACKEND}' backend.")
