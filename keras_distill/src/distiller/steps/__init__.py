"""The Distiller's train and test steps, one small module per backend.

Every backend runs the same loss path (`Distiller._begin_train_step`,
`Distiller._train_loss`, `Distiller.compute_loss`, the pure loss functions);
a backend's module only differentiates it and applies the gradients:

- `tensorflow.py`: `tf.GradientTape`, inside Keras's `tf.function`.
- `jax.py`: stateless `jax.value_and_grad`, inside Keras's `jax.jit`.
- `torch.py`: eager autograd (`loss.backward()`).
"""

import importlib

import keras

from keras_distill.src.utils.backend import unsupported_backend_error

_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def _module():
    backend = keras.backend.backend()
    if backend not in _MODULES:
        raise unsupported_backend_error("Training a Distiller", _MODULES)
    return importlib.import_module(f"{__name__}.{_MODULES[backend]}")


def train_step(distiller, *args):
    """Runs the backend's train step (`args` as Keras passes them)."""
    return _module().train_step(distiller, *args)


def test_step(distiller, *args):
    """Runs the backend's test step (`args` as Keras passes them)."""
    return _module().test_step(distiller, *args)


def wrap_train_function(distiller, train_function):
    """Wraps the train function Keras made, as the backend needs: an invalid
    in-step schedule value raises a `ValueError` (`schedules/guard.py`)."""
    return _module().wrap_train_function(distiller, train_function)
