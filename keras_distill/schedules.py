"""Schedules `step -> value` for `temperature`, `alpha` and term weights.

These are Keras's own `keras.optimizers.schedules` classes, re-exported: they
are named for learning rates but are plain serializable functions of the
training step, and the `Distiller` accepts any of them (or any other callable
`step -> value`) wherever it accepts a float hyperparameter. It evaluates
them inside the train step from `optimizer.iterations`, validates each value
and saves them with the model. Subclass `LearningRateSchedule` (and register
it with `keras.saving.register_keras_serializable`) to write your own.

Example:

```python
distiller.compile(
    optimizer="adam",
    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    # Anneal the temperature from 8 to 1 over 10,000 steps.
    temperature=keras_distill.schedules.CosineDecay(8.0, 10_000, alpha=1 / 8),
)
```
"""

from keras.optimizers.schedules import CosineDecay
from keras.optimizers.schedules import CosineDecayRestarts
from keras.optimizers.schedules import ExponentialDecay
from keras.optimizers.schedules import InverseTimeDecay
from keras.optimizers.schedules import LearningRateSchedule
from keras.optimizers.schedules import PiecewiseConstantDecay
from keras.optimizers.schedules import PolynomialDecay

__all__ = [
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
]
