"""The Colab notebooks: committed without outputs, in sync with their sources,
and each runs top to bottom (small-size switch on) without a cell error."""

import importlib.util
import json
import pathlib
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
CELL_TIMEOUT_S = 300


def _load_builder():
    spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILDER = _load_builder()
NAMES = list(BUILDER.NOTEBOOKS)


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory):
    """A `python3` kernel spec on this interpreter with the small-size switch on.

    Put first on JUPYTER_PATH, it wins over any installed `python3` spec, so the
    kernel imports this checkout's environment with the TensorFlow backend.
    """
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (keras-distill CI)",
        "language": "python",
        "env": {
            "KD_NOTEBOOK_SMALL": "1",
            "KERAS_BACKEND": "tensorflow",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "CUDA_VISIBLE_DEVICES": "-1",
            "PYTHONPATH": str(NOTEBOOKS.parent),
        },
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return root


def test_notebooks_are_committed_without_outputs():
    for name in NAMES:
        notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}.ipynb cell {index} has outputs or an execution count: "
                "regenerate it with `python notebooks/build.py`."
            )


def test_notebooks_match_their_sources():
    for name in NAMES:
        committed = (NOTEBOOKS / f"{name}.ipynb").read_text()
        assert committed == BUILDER.render(name), (
            f"notebooks/{name}.ipynb differs from its source (NOTEBOOKS in build.py): "
            "edit the source, then run `python notebooks/build.py`."
        )


def test_every_notebook_opens_with_badge_and_install_cell():
    for name in NAMES:
        notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        badge, switch = notebook.cells[0].source, notebook.cells[1].source
        assert f"{BUILDER.COLAB}/{name}.ipynb" in badge
        assert 'os.environ.get("KD_NOTEBOOK_SMALL"' in switch
        assert "%pip install" in switch


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name, kernel_path, tmp_path, monkeypatch):
    if BUILDER.NOTEBOOKS[name][0] == "hub" and importlib.util.find_spec("keras_hub") is None:
        pytest.skip("keras_hub is not installed")  # found, not imported: the kernel imports it
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # files it writes land here
        # Every cell has run by then: the kernel is killed at once rather than
        # asked to exit, which a kernel holding TensorFlow takes seconds to do.
        shutdown_kernel="immediate",
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    print(f"{name}: {time.perf_counter() - start:.1f} s")
