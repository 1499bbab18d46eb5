"""The command starts without TensorFlow's C++ notices, unless asked for."""

import os
import subprocess
import sys

import pytest

from tests.backends import tensorflow_only

NOTICES = ("absl::InitializeLog", "cudart_stub", "cpu_feature_guard", "oneDNN")


def _help(env):
    return subprocess.run(
        [sys.executable, "-m", "keras_distill", "--help"],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )


@tensorflow_only
def test_help_prints_no_tensorflow_notices():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = _help(env)
    assert result.stdout.startswith("usage: keras-distill")
    assert not [line for line in result.stderr.splitlines() if any(n in line for n in NOTICES)]


@tensorflow_only
def test_a_log_level_the_user_set_is_kept():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0")
    result = _help(env)
    assert result.stdout.startswith("usage: keras-distill")
    if not any(notice in result.stderr for notice in NOTICES):
        pytest.skip("this TensorFlow build prints no start-up notice here")
