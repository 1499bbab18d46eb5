"""The demo's models, and loading and checking the user's models."""

import importlib
import inspect
import os
import sys

import keras

from keras_distill.src.cli.options import CliError


def mlp(input_shape, num_classes, units, name):
    """An MLP classifier: Flatten, ReLU Dense layers of `units`, logits."""
    inputs = keras.Input(input_shape, name="image")
    hidden = keras.layers.Flatten()(inputs)
    for width in units:
        hidden = keras.layers.Dense(width, activation="relu")(hidden)
    logits = keras.layers.Dense(num_classes, name="logits")(hidden)
    return keras.Model(inputs, logits, name=name)


def build_teacher(input_shape, num_classes):
    """The demo's teacher: an MLP with two hidden layers of 256 units."""
    return mlp(input_shape, num_classes, (256, 256), "teacher")


def build_student(input_shape, num_classes):
    """The demo's student: an MLP with one hidden layer of 16 units."""
    return mlp(input_shape, num_classes, (16,), "student")


def architecture(model):
    """`"MLP 256-256"` for the demo's models, else the model's name."""
    dense = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if model.name in ("teacher", "student") and dense:
        return "MLP " + "-".join(str(units) for units in dense[:-1])
    return model.name


def load_model_file(path, option):
    """Loads a `.keras` / `.h5` model for `--teacher`, `--student` or export."""
    if not os.path.exists(path):
        raise CliError(f"{option}: no such file: {path}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:
        reason = " ".join(str(error).split())[:300]
        raise CliError(f"{option}: could not load a Keras model from {path}: {reason}") from error


def build_from_function(spec, input_shape, num_classes):
    """Calls `module:function` (module importable from the current folder).

    The function may take `input_shape` and/or `num_classes` by keyword; it
    gets those it names.
    """
    module_name, _, function_name = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise CliError(f"--student: cannot import {spec!r}: {error}") from error
    parameters = inspect.signature(function).parameters
    given = {"input_shape": tuple(input_shape), "num_classes": num_classes}
    model = function(**{key: value for key, value in given.items() if key in parameters})
    if not isinstance(model, keras.Model):
        raise CliError(f"--student: {spec} returned {type(model).__name__}, not a keras.Model")
    return model


def load_student(spec, input_shape, num_classes):
    """`--student`: a saved (untrained) model file, or `module:function`."""
    is_function = ":" in spec and not os.path.exists(spec) and not spec.endswith((".keras", ".h5"))
    if is_function:
        return build_from_function(spec, input_shape, num_classes)
    return load_model_file(spec, "--student")


def check_model(model, option, input_shape, num_classes):
    """Raises `CliError` unless `model` maps the dataset's inputs to logits."""
    model_input = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if model_input is not None and (
        len(model_input) != len(input_shape)
        or any(m is not None and m != d for m, d in zip(model_input, input_shape))
    ):
        raise CliError(
            f"{option}: shape mismatch: model {model.name!r} takes inputs of shape "
            f"{model_input} but the dataset's are {tuple(input_shape)}"
        )
    outputs = getattr(model, "outputs", None)
    if outputs and outputs[0].shape[-1] != num_classes:
        raise CliError(
            f"{option}: shape mismatch: model {model.name!r} outputs "
            f"{tuple(outputs[0].shape)} but the dataset has {num_classes} classes"
        )
    last = model.layers[-1] if getattr(model, "layers", None) else None
    if getattr(getattr(last, "activation", None), "__name__", "") == "softmax":
        raise CliError(
            f"{option}: model {model.name!r} ends in a softmax; distillation needs "
            "logits: rebuild its last layer with activation=None"
        )
