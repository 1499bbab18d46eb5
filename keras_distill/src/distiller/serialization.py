"""The Distiller's config and compile config, and their inverse.

`get_config` holds the models and everything `__init__` takes;
`get_compile_config` adds the same loss settings to Keras's own compile
config (optimizer, metrics, ...), so a `.keras` file resumes training with
the same losses, weights, temperature and alpha (schedules included).
"""

import copy

import keras

from keras_distill.src.distiller import hyperparameters
from keras_distill.src.distiller import student_loss as student_loss_lib
from keras_distill.src.schedules import hyperparameter

_SERIALIZE = keras.saving.serialize_keras_object
_DESERIALIZE = keras.saving.deserialize_keras_object

# The arguments shared by `__init__` and `compile`.
LOSS_KEYS = (
    "student_loss_fn",
    "loss_weights",
    "distillation_loss_fn",
    "distillation_loss_weights",
    "alpha",
    "temperature",
)


def loss_config(distiller):
    """The loss settings, serialized."""
    return {
        **distiller._student_loss.get_config(),
        "distillation_loss_fn": [_SERIALIZE(term) for term in distiller._terms],
        **hyperparameters.config(distiller),
    }


def deserialize_loss_config(config):
    """Inverse of `loss_config` (other keys are copied as they are)."""
    config = copy.deepcopy(config)  # Keras deserialization mutates dicts.
    if config.get("student_loss_fn") is not None:
        config["student_loss_fn"] = student_loss_lib.deserialize(config["student_loss_fn"])
    if config.get("distillation_loss_fn") is not None:
        config["distillation_loss_fn"] = [
            _DESERIALIZE(term) for term in config["distillation_loss_fn"]
        ]
    if config.get("distillation_loss_weights") is not None:
        config["distillation_loss_weights"] = [
            hyperparameter.deserialize(weight) for weight in config["distillation_loss_weights"]
        ]
    for key in ("alpha", "temperature"):
        if key in config:
            config[key] = hyperparameter.deserialize(config[key])
    return config


def get_config(distiller, base_config):
    """`keras.Model`'s config (name, trainable, dtype) with the models and
    everything else `__init__` takes."""
    config = {
        **base_config,
        "teacher": _SERIALIZE(distiller.teacher),
        "student": _SERIALIZE(distiller.student),
        "teacher_outputs": distiller.teacher_outputs,
    }
    if distiller._on_policy is not None:
        config["on_policy"] = _SERIALIZE(distiller._on_policy)
    config.update(loss_config(distiller))
    return config


#: Loading a Distiller: a student loss that construction refuses only warns.
loading = student_loss_lib.loading


def from_config(config, custom_objects=None):
    """`__init__`'s arguments from `get_config`'s dict."""
    config = deserialize_loss_config(config)
    for key in ("teacher", "student"):
        config[key] = _DESERIALIZE(config[key], custom_objects=custom_objects)
    if config.get("on_policy") is not None:
        config["on_policy"] = _DESERIALIZE(config["on_policy"], custom_objects=custom_objects)
    return config


def compile_config(distiller, config):
    """Keras's compile config with the loss settings in place of its loss."""
    if config is None:
        return None
    config.pop("loss", None)
    config.pop("loss_weights", None)
    config.update(loss_config(distiller))
    return config


def compile_arguments(config):
    """`compile`'s arguments from `compile_config`'s dict."""
    config = dict(config)
    optimizer = config.pop("optimizer", "rmsprop")
    config = deserialize_loss_config(config)
    other = _DESERIALIZE({k: v for k, v in config.items() if k not in LOSS_KEYS})
    losses = {k: v for k, v in config.items() if k in LOSS_KEYS}
    return {"optimizer": _DESERIALIZE(optimizer), **other, **losses}
