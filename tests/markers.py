"""pytest marks for tests that need one backend's machinery.

The backend is chosen before keras is imported (`tests/conftest.py`), so
`KERAS_BACKEND=jax python -m pytest tests/distiller` runs on JAX.
"""

import keras
import pytest

BACKEND = keras.backend.backend()

tensorflow_only = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason=f"needs the TensorFlow backend (tf.function, tf.distribute or "
    f"SavedModel); running on '{BACKEND}'",
)

traced_step = pytest.mark.skipif(
    BACKEND == "torch",
    reason="counts traces of a compiled step; the PyTorch step runs eagerly",
)
