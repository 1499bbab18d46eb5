"""Builds the Colab notebooks in this folder from their readable sources.

Each source is a notebook in the "percent" format (`# %%` starts a code
cell, `# %% [markdown]` a Markdown cell whose lines start with `# `): most
are `sources/<name>.py`, and one is a runnable example from `examples/`.
Every notebook opens with the "Open in Colab" badge above its title, then
the cell that reads the small-size switch and installs the package in
Colab; those built from `sources/` then share `sources/_setup.py` (data,
models, helpers). The `.ipynb` files are written without outputs; a test
checks that they match their sources and stay output-free.

Run: python notebooks/build.py           # rewrite the notebooks
     python notebooks/build.py --check   # exit 1 if any notebook is stale
"""

import argparse
import pathlib
import sys

import nbformat

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = HERE / "sources"
REPOSITORY = "keras-distill/keras-distill"
COLAB = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/notebooks"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"

# name -> (pip extra installed in Colab, Colab accelerator or None, source:
# None for sources/<name>.py with sources/_setup.py, else a path from the
# repository root)
NOTEBOOKS = {
    "01_quickstart": ("tensorflow", None, None),
    "02_temperature_and_losses": ("tensorflow", None, None),
    "03_feature_distillation": ("tensorflow", None, None),
    "04_export_to_mobile": ("export", None, None),
    "05_gpu_tpu_and_scale": ("tensorflow", "GPU", None),
    "06_distill_a_language_model": ("hub", None, "examples/distill_a_language_model.py"),
}

SWITCH_CELL = """\
# Small-size switch, read first: KD_NOTEBOOK_SMALL=1 (as in CI) runs tiny models
# on little data in seconds on a CPU; unset (Colab), it runs at full size and
# shows real numbers.
import os

SMALL = os.environ.get("KD_NOTEBOOK_SMALL", "0") == "1"
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

try:
    import keras_distill  # noqa: F401  (already installed, e.g. in CI)
except ImportError:  # Colab: install from GitHub
    %pip install -q "keras-distill[{extra}] @ git+https://github.com/{repository}\""""


def parse_percent(text):
    """Splits a percent-format source into `(cell_type, source)` pairs."""
    cells = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            kind = "markdown" if "[markdown]" in line else "code"
            cells.append((kind, []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"Text before the first `# %%` marker: {line!r}")
    parsed = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
        source = "\n".join(lines).strip("\n")
        if source:
            parsed.append((kind, source))
    return parsed


def build(name):
    """The notebook `name` as a `nbformat.NotebookNode`, without outputs."""
    extra, accelerator, source = NOTEBOOKS[name]
    path = SOURCES / f"{name}.py" if source is None else HERE.parent / source
    cells = parse_percent(path.read_text())
    kind, title = cells[0]
    if kind != "markdown" or not title.startswith("# "):
        raise ValueError(f"{path} must open with a Markdown `# Title` cell.")
    badge = f"[![Open In Colab]({BADGE})]({COLAB}/{name}.ipynb)"
    opening = [
        ("markdown", f"{badge}\n\n{title}"),
        ("code", SWITCH_CELL.format(extra=extra, repository=REPOSITORY)),
    ]
    if source is None:
        opening += parse_percent((SOURCES / "_setup.py").read_text())
    notebook = nbformat.v4.new_notebook()
    for index, (kind, source) in enumerate(opening + cells[1:]):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source, id=f"cell-{index:02d}")
        else:
            cell = nbformat.v4.new_code_cell(source, id=f"cell-{index:02d}")
        notebook.cells.append(cell)
    notebook.metadata = {
        "colab": {"name": f"{name}.ipynb", "provenance": [], "toc_visible": True},
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    if accelerator:
        notebook.metadata["accelerator"] = accelerator
    nbformat.validate(notebook)
    return notebook


def render(name):
    """The `.ipynb` text of notebook `name`, as committed."""
    return nbformat.writes(build(name)) + "\n"


def main(check):
    stale = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        text = render(name)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.name)
        if not check:
            path.write_text(text)
    if check and stale:
        print(f"Stale notebooks: {stale}. Run: python notebooks/build.py", file=sys.stderr)
        return 1
    print(("Stale: " if check else "Wrote: ") + (", ".join(stale) or "nothing"))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    sys.exit(main(parser.parse_args().check))
