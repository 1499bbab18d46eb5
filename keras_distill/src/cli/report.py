"""What a run leaves behind: results.json, a text table and report.png."""

import json
import os
import textwrap

from keras_distill.src.utils.imports import require

#: Size of report.png in pixels (width, height).
REPORT_SIZE = (1500, 450)
_DPI = 100


def file_size(path):
    """Size in bytes of a file, or of every file under a folder."""
    if os.path.isdir(path):
        return sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(path)
            for name in names
        )
    return os.path.getsize(path)


def _human(size):
    if size is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def format_table(models):
    """A text table of the models of a run (the `models` of results.json)."""
    header = ("model", "labels", "accuracy", "params", "file")
    rows = [header]
    for entry in models.values():
        file = entry.get("file")
        rows.append(
            (
                entry["title"],
                "" if entry.get("labels") is None else f"{entry['labels']:,}",
                f"{100 * entry['accuracy']:.1f}%",
                "" if entry.get("params") is None else f"{entry['params']:,}",
                f"{file} ({_human(entry.get('file_size_bytes'))})" if file else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    align = ("<", ">", ">", ">", "<")
    lines = [
        "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def json_ready(mapping):
    """A copy of `mapping` with numpy scalars turned into Python numbers."""
    return {
        key: value.item() if hasattr(value, "item") else value
        for key, value in mapping.items()
    }


def write_results(results, path):
    """Writes `results` as indented JSON."""
    with open(path, "w") as file:
        json.dump(results, file, indent=2, sort_keys=False)
        file.write("\n")


def check_matplotlib():
    """Fails early, before any training, when report.png cannot be drawn."""
    require("matplotlib", "matplotlib", extra="demo")


def plot_report(results, path, curves_of="distilled"):
    """Draws report.png: accuracy bars, then the training curves of one model.

    Left: test accuracy of every model. Middle: accuracy per epoch of
    `curves_of` (on the test set, and on the labeled training examples).
    Right: its losses per epoch, with the temperature on a second axis.
    """
    figure_module = require("matplotlib.figure", "matplotlib", extra="demo")
    width, height = REPORT_SIZE
    figure = figure_module.Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    bars, accuracy_axis, loss_axis = figure.subplots(1, 3)
    _accuracy_bars(bars, results["models"])
    history = results["history"]
    epochs = range(1, len(history.get("loss", [])) + 1)
    name = results["models"][curves_of]["title"]
    for key, label in (("val_accuracy", "test"), ("accuracy", "labeled train examples")):
        if key in history:
            accuracy_axis.plot(epochs, history[key], marker=".", label=label)
    accuracy_axis.set(title=f"{name}: accuracy", xlabel="epoch", ylabel="accuracy")
    accuracy_axis.legend(loc="lower right")
    for key in ("loss", "student_loss", "distillation_loss"):
        if key in history:
            loss_axis.plot(epochs, history[key], marker=".", label=key)
    loss_axis.set(title=f"{name}: training losses", xlabel="epoch", ylabel="loss")
    handles = loss_axis.get_legend_handles_labels()[0]
    if "temperature" in history:
        temperature_axis = loss_axis.twinx()
        handles += temperature_axis.plot(
            epochs, history["temperature"], "k--", label="temperature (right axis)"
        )
        temperature_axis.set(ylabel="temperature", ylim=(0, 1.15 * max(history["temperature"])))
    loss_axis.legend(handles=handles, loc="upper right")
    ticker = require("matplotlib.ticker", "matplotlib", extra="demo")
    for axis in (accuracy_axis, loss_axis):
        axis.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)


def _accuracy_bars(axis, models):
    titles = [
        textwrap.fill(entry["title"].removeprefix("student, "), 16)
        + ("" if entry.get("labels") is None else f"\n{entry['labels']:,} labels")
        for entry in models.values()
    ]
    values = [entry["accuracy"] for entry in models.values()]
    colors = ["tab:gray" if key.startswith("teacher") else "tab:blue" for key in models]
    colors = [
        "tab:orange" if key.startswith("distilled") else color
        for key, color in zip(models, colors)
    ]
    positions = range(len(values))
    axis.bar(positions, values, color=colors)
    for position, value in zip(positions, values):
        axis.text(position, value + 0.01, f"{100 * value:.1f}%", ha="center", fontsize=8)
    axis.set_xticks(list(positions), titles, fontsize=7)
    axis.set(title="test accuracy", ylim=(0, 1.1), ylabel="accuracy")


def print_summary(results, out, verbose):
    """Prints the models table, the export parity table and what was written."""
    from keras_distill.export import format_parity_table

    print()
    print(report_title(results))
    print(format_table(results["models"]))
    for key in ("tflite", "exports"):
        if results.get(key):
            print()
            print(format_parity_table(results[key]))
    if verbose:
        written = ", ".join(sorted(name for name in os.listdir(out)))
        print(f"\nWrote to {out}: {written}")


def report_title(results):
    data, settings = results["dataset"], results["settings"]
    return (
        f"{data['name']}: {data['num_train']:,} training / {data['num_test']:,} test "
        f"examples, {settings['epochs']} epochs, T={settings['temperature']}, "
        f"alpha={settings['alpha']}, seed {settings['seed']}"
    )
