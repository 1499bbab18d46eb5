"""The Keras internals module: the supported range and its errors."""

import configparser
import pathlib
import re

import keras
import pytest

from keras_distill.src.utils import keras_compat

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _declared_range():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    [keras_line] = [
        line.strip()
        for line in config["options"]["install_requires"].splitlines()
        if line.strip().startswith("keras")
    ]
    return keras_line


def _version(text):
    return tuple(int(part) for part in text.split(".")[:2])


def test_installed_keras_is_in_the_declared_range():
    declared = _declared_range()
    low, high = re.fullmatch(r"keras>=([\d.]+),<([\d.]+)", declared).groups()
    assert _version(low) <= _version(keras.version()) < _version(high)
    installed = keras_compat.supported_keras()
    assert sorted(installed.removeprefix("keras").split(",")) == sorted(
        declared.removeprefix("keras").split(",")
    )


def test_a_moved_internal_names_the_keras_version_and_the_range():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(RuntimeError) as caught:
        keras_compat._attribute(model, "_no_such_internal")
    message = str(caught.value)
    assert f"Keras {keras.version()}" in message and "_no_such_internal" in message
    assert keras_compat.supported_keras() in message


def test_no_module_but_the_compat_module_imports_keras_internals():
    package = ROOT / "keras_distill"
    offenders = [
        str(path.relative_to(ROOT))
        for path in package.rglob("*.py")
        if path.name != "keras_compat.py"
        and re.search(r"^\s*(from|import) keras\.src", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []
