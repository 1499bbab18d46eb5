"""Smoke test of `benchmarks/gpu_jax.py` at its tiny size: JAX on CPU, in a
process where TensorFlow cannot be imported (the GPU machine to support)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("jax")

ROOT = pathlib.Path(__file__).resolve().parents[2]
WITHOUT_TENSORFLOW = (
    "import runpy, sys\n"
    "sys.modules['tensorflow'] = None  # `import tensorflow` raises ImportError.\n"
    "sys.argv = ['gpu_jax', '--tiny', '--out', sys.argv[1]]\n"
    "runpy.run_module('benchmarks.gpu_jax', run_name='__main__')\n"
)


def test_tiny_run_on_jax_without_tensorflow(tmp_path):
    out = tmp_path / "gpu_jax.json"
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORFLOW, str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(out.read_text())
    environment, results = report["environment"], report["results"]
    assert environment["backend"] == "jax"
    assert environment["tensorflow_imported"] is False
    assert environment["models"] == "small conv nets"
    assert (environment["image_size"], environment["batch_size"]) == (32, 2)
    for row in ("ours_online", "ours_cached", "builtin", "student_plain"):
        assert results[row]["images_per_second"] > 0, row
        assert len(results[row]["epoch_seconds"]) == 2  # Warm-up + one measured.
    assert "| ours_online |" in result.stdout
