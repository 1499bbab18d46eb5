"""Callbacks for training a `Distiller` with `fit`: hyperparameter schedulers
and crash-safe backup and restore."""

from keras_distill.src.callbacks.backup_and_restore import BackupAndRestore
from keras_distill.src.callbacks.hyperparameter_scheduler import AlphaScheduler
from keras_distill.src.callbacks.hyperparameter_scheduler import HyperparameterScheduler
from keras_distill.src.callbacks.hyperparameter_scheduler import TemperatureScheduler

__all__ = [
    "AlphaScheduler",
    "BackupAndRestore",
    "HyperparameterScheduler",
    "TemperatureScheduler",
]
