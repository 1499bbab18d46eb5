"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1."""

import json
import socket
import subprocess

import numpy as np

from tests.scale.scale_helpers import TIMEOUT
from tests.scale.scale_helpers import worker_command
from tests.scale.scale_helpers import worker_env


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _start_workers(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                worker_command("scale_worker_multi.py", tmp_path / f"worker{index}.json"),
                env=worker_env(TF_CONFIG=json.dumps(config)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return processes


def _wait(processes):
    """Waits for every worker; kills all of them if one hangs or fails."""
    try:
        errors = [process.communicate(timeout=TIMEOUT)[1] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, error in zip(processes, errors):
        assert process.returncode == 0, error[-4000:]


def test_two_workers_end_with_identical_student_weights(tmp_path):
    _wait(_start_workers(tmp_path))
    results = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
    assert [result["replicas"] for result in results] == [2, 2]
    first, second = (result["multi_worker"] for result in results)
    assert first["iterations"] == second["iterations"] == 3
    for a, b in zip(first["student"], second["student"]):
        np.testing.assert_array_equal(a, b)
    # And the same training as one device on the same global batches.
    one_device = results[0]["one_device"]
    for a, b in zip(first["student"], one_device["student"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first["loss"], one_device["loss"], rtol=1e-5)
    np.testing.assert_allclose(second["loss"], one_device["loss"], rtol=1e-5)
