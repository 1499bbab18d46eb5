"""Callbacks that schedule Distiller hyperparameters during `fit`."""

from keras_distill.src.callbacks.hyperparameter_scheduler import AlphaScheduler
from keras_distill.src.callbacks.hyperparameter_scheduler import HyperparameterScheduler
from keras_distill.src.callbacks.hyperparameter_scheduler import TemperatureScheduler

__all__ = [
    "AlphaScheduler",
    "HyperparameterScheduler",
    "TemperatureScheduler",
]
