"""`compare_exported`: does the exported file still compute what the student does?"""

import statistics
import time

import numpy as np

from keras_distill.src.export.runtimes import KerasRunner
from keras_distill.src.export.runtimes import load_runner
from keras_distill.src.export.signature import resolve_student
from keras_distill.src.utils.errors import invalid_argument

LATENCY_EXAMPLES = 100
_WARMUP_CALLS = 3


def median_latency_ms(runner, arrays, examples=LATENCY_EXAMPLES):
    """Median milliseconds of one single-example call, over `examples` examples."""
    size = len(next(iter(arrays.values())))
    rows = [{name: a[i : i + 1] for name, a in arrays.items()} for i in range(min(size, examples))]
    for row in rows[:_WARMUP_CALLS]:
        runner.predict(row)
    timings = []
    for row in rows:
        start = time.perf_counter()
        runner.predict(row)
        timings.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(timings)


def accuracy(outputs, labels):
    """Fraction of examples whose predicted class equals the label.

    Multi-class outputs use the argmax; one-unit outputs a threshold at 0.5
    when they look like probabilities (all in [0, 1]), else at 0 (logits).
    Labels may be class indices or one-hot.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    labels = np.asarray(labels)
    if outputs.shape[-1] == 1:
        threshold = 0.5 if outputs.min() >= 0 and outputs.max() <= 1 else 0.0
        predicted = (outputs[..., 0] > threshold).astype(np.int64)
    else:
        predicted = np.argmax(outputs, axis=-1)
    if labels.ndim == predicted.ndim + 1 and labels.shape[-1] > 1:
        labels = np.argmax(labels, axis=-1)
    labels = labels.reshape(predicted.shape)
    return float(np.mean(predicted == labels))


def _labels_by_output(y, output_names):
    """`{output name: labels}` for the outputs that have labels."""
    if y is None:
        return {}
    if isinstance(y, dict):
        unknown = sorted(set(y) - set(output_names))
        if unknown:
            raise invalid_argument(
                "y", f"dict with keys {sorted(y)}", f"keys among {output_names}"
            )
        return {name: y[name] for name in output_names if y.get(name) is not None}
    if isinstance(y, (list, tuple)) and len(output_names) > 1:
        if len(y) != len(output_names):
            raise invalid_argument(
                "y", f"{len(y)} label arrays", f"one per output {output_names} (None to skip)"
            )
        return {name: labels for name, labels in zip(output_names, y) if labels is not None}
    return {output_names[0]: y}


def _accuracies(outputs, labels_by_output):
    if not labels_by_output:
        return None
    values = {name: accuracy(outputs[name], labels) for name, labels in labels_by_output.items()}
    return next(iter(values.values())) if len(values) == 1 else values


def compare_exported(student, path, x, y=None, latency_examples=LATENCY_EXAMPLES):
    """Runs an exported file and the Keras student on `x` and compares them.

    Args:
        student: The Keras student (or the Distiller holding it).
        path: A path returned by `export_student`: a `.keras` or `.tflite`
            file, a SavedModel directory or its TF Serving base directory.
        x: Inputs: an array, a list in input order, or a dict keyed by
            input name.
        y: Optional labels (class indices or one-hot) for the first output,
            or a list/dict with one label array per output.
        latency_examples: Number of single-example calls timed.

    Returns:
        A dict with `format`, `quantization`, `int8_io`, `runtime`, `path`,
        `file_size_bytes`, `num_examples`, `max_abs_diff` and
        `mean_abs_diff` (over all outputs, after dequantizing int8 outputs),
        `keras_accuracy` and `exported_accuracy` (floats, a dict per output
        when several are labeled, None without labels), and
        `keras_latency_ms` / `exported_latency_ms` (median per example, batch
        of one). `format_parity_table` prints a list of these.
    """
    reference = KerasRunner(resolve_student(student, argument="student"))
    exported = load_runner(path)
    arrays = reference.signature.flatten_inputs(x)
    expected = reference.predict(arrays)
    actual = exported.predict(arrays)
    names = reference.signature.output_names
    if sorted(actual) != sorted(names):
        raise invalid_argument(
            "path",
            path,
            f"a file exported from this student, with outputs {names}",
            f"The file has outputs {sorted(actual)}: pass the student it was exported from.",
        )
    differences = np.concatenate(
        [np.abs(np.asarray(actual[n], np.float64) - expected[n]).ravel() for n in names]
    )
    labels = _labels_by_output(y, names)
    return {
        "format": exported.format,
        "quantization": exported.quantization,
        "int8_io": exported.int8_io,
        "runtime": exported.runtime,
        "path": str(exported.path),
        "file_size_bytes": exported.file_size_bytes,
        "num_examples": len(next(iter(arrays.values()))),
        "max_abs_diff": float(differences.max()),
        "mean_abs_diff": float(differences.mean()),
        "keras_accuracy": _accuracies(expected, labels),
        "exported_accuracy": _accuracies(actual, labels),
        "keras_latency_ms": median_latency_ms(reference, arrays, latency_examples),
        "exported_latency_ms": median_latency_ms(exported, arrays, latency_examples),
    }
