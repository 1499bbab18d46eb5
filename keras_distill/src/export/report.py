"""`format_parity_table`: parity reports as a Markdown table (readable as text)."""

_COLUMNS = (
    "export",
    "size",
    "max abs diff",
    "mean abs diff",
    "acc keras",
    "acc export",
    "ms/ex keras",
    "ms/ex export",
)


def export_label(report):
    """A short name of the export, e.g. `"tflite int8 (int8 io)"`."""
    label = report["format"]
    if report.get("quantization"):
        label += f" {report['quantization']}"
    elif label == "tflite":
        label += " float32"
    if report.get("int8_io"):
        label += " (int8 io)"
    return label


def _size(num_bytes):
    if num_bytes is None:
        return "-"
    if num_bytes < 1024:
        return f"{num_bytes} B"
    if num_bytes < 1024**2:
        return f"{num_bytes / 1024:.1f} KB"
    return f"{num_bytes / 1024**2:.1f} MB"


def _accuracy(value):
    if value is None:
        return "-"
    if isinstance(value, dict):
        return " ".join(f"{name}={score:.4f}" for name, score in value.items())
    return f"{value:.4f}"


def _row(report):
    return (
        export_label(report),
        _size(report.get("file_size_bytes")),
        f"{report['max_abs_diff']:.2e}",
        f"{report['mean_abs_diff']:.2e}",
        _accuracy(report.get("keras_accuracy")),
        _accuracy(report.get("exported_accuracy")),
        f"{report['keras_latency_ms']:.3f}",
        f"{report['exported_latency_ms']:.3f}",
    )


def format_parity_table(report_or_reports):
    """Formats `compare_exported` reports as an aligned Markdown table.

    Args:
        report_or_reports: One report dict or a list of them.

    Returns:
        The table as a string (no trailing newline): one header row, one
        separator, one row per report.
    """
    reports = [report_or_reports] if isinstance(report_or_reports, dict) else report_or_reports
    rows = [_COLUMNS] + [_row(report) for report in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]

    def line(cells):
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(rows[0]), separator] + [line(row) for row in rows[1:]])
