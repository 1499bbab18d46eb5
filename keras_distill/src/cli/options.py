"""Command-line options shared by the subcommands, and the CLI's error type."""

import argparse
import math

from keras_distill.src.data.loaders import NAMES


class CliError(Exception):
    """Bad input: the CLI prints the message on one line and exits with 2."""


def _number(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def hyperparameter(low, high, low_open=False):
    """An argparse type for `VALUE` or `START:END` (a linear schedule)."""

    def parse(text):
        parts = text.split(":")
        if len(parts) > 2:
            raise argparse.ArgumentTypeError(f"expected VALUE or START:END, got {text!r}")
        values = tuple(_number(part) for part in parts)
        for value in values:
            if value < low or value > high or (low_open and value == low):
                bound = f"> {low:g}" if low_open else f">= {low:g}"
                limit = "" if math.isinf(high) else f" and <= {high:g}"
                raise argparse.ArgumentTypeError(
                    f"expected values {bound}{limit}, got {text!r}"
                )
        return values[0] if len(values) == 1 else values

    return parse


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def positive_float(text):
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def schedule(value, total_steps):
    """A float, or for `(start, end)` a linear `PolynomialDecay` over training."""
    if not isinstance(value, tuple):
        return value
    import keras

    start, end = value
    return keras.optimizers.schedules.PolynomialDecay(
        start, decay_steps=max(total_steps - 1, 1), end_learning_rate=end, power=1.0
    )


def hyperparameter_text(value):
    """`4.0` or `"8.0:2.0"`, for results.json and tables."""
    return f"{value[0]:g}:{value[1]:g}" if isinstance(value, tuple) else value


def add_command(subparsers, name, description, example, help, data_options=False):
    """The parser of one command: its module docstring above the options,
    its examples below; `--dataset` and `--data-dir` with `data_options`."""
    parser = subparsers.add_parser(
        name, help=help, description=description, epilog=example, formatter_class=HelpFormatter
    )
    if data_options:
        add_data_options(parser)
    return parser


def add_data_options(parser, default="digits"):
    parser.add_argument(
        "--dataset",
        default=default,
        help=f"{' | '.join(NAMES)} (default: "
        + ("%(default)s)" if default else "none: random inputs, no accuracy)"),
    )
    parser.add_argument(
        "--data-dir",
        help="folder with the IDX files of fashion_mnist/mnist, or the "
        "tensorflow_datasets data folder",
    )


def add_training_options(parser, *, epochs, learning_rate, temperature, alpha):
    """The knobs of `Distiller.compile` and `fit` shared by demo and distill."""
    parser.add_argument(
        "--epochs", type=positive_int, default=epochs, help="default: %(default)s"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=64, help="default: %(default)s"
    )
    parser.add_argument(
        "--learning-rate",
        type=positive_float,
        default=learning_rate,
        help="Adam learning rate (default: %(default)s)",
    )
    parser.add_argument(
        "--temperature",
        type=hyperparameter(0.0, math.inf, low_open=True),
        default=temperature,
        help="softening temperature T > 0, or START:END for a linear schedule "
        "over training, e.g. 8:2 (default: %(default)s)",
    )
    parser.add_argument(
        "--alpha",
        type=hyperparameter(0.0, 1.0),
        default=alpha,
        help="weight of the hard-label loss in [0, 1]; 1 - alpha weighs "
        "distillation; START:END for a schedule (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed (default: %(default)s)"
    )


def add_output_options(parser, out):
    parser.add_argument(
        "--out", default=out, help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress output; print only the final table (for scripts)",
    )


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and examples."""
