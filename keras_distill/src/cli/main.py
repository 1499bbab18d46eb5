"""`keras-distill`: the command line (also `python -m keras_distill`)."""

import argparse
import logging
import sys
import warnings

from keras_distill.export import ConversionError
from keras_distill.src.cli import demo
from keras_distill.src.cli import distill
from keras_distill.src.cli import export
from keras_distill.src.cli import tune
from keras_distill.src.cli.options import CliError
from keras_distill.src.cli.options import HelpFormatter

PROG = "keras-distill"
EXAMPLES = f"""examples:
{demo.EXAMPLE.split(":", 1)[1].splitlines()[1]}
{distill.EXAMPLE.split(":", 1)[1].splitlines()[1]}
{export.EXAMPLE.split(":", 1)[1].splitlines()[1]}
{tune.EXAMPLE.split(":", 1)[1].splitlines()[1]}

Run `{PROG} COMMAND --help` for the options and more examples of each command.
"""


class _Parser(argparse.ArgumentParser):
    """Reports bad usage on one line: `keras-distill demo: error: ...`."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog=PROG,
        description="Knowledge distillation for Keras 3: demo, distill your "
        "own models, export a student, search a recipe.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--traceback", action="store_true", help="on errors, show the full traceback"
    )
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="{demo,distill,export,tune}",
        parser_class=_Parser,
    )
    for module in (demo, distill, export, tune):
        module.add_parser(subparsers)
    return parser


def _quiet_logs():
    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "keras"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv=None):
    """Runs the command line; returns the exit status (0, or 2 on bad input)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.quiet:
        _quiet_logs()
    try:
        import keras

        if keras.backend.backend() != "tensorflow":
            raise CliError(
                f"the command line needs the TensorFlow backend, not "
                f"{keras.backend.backend()!r}: run it with KERAS_BACKEND=tensorflow"
            )
        args.run(args)
    except (CliError, ConversionError, ValueError, ImportError, OSError) as error:
        if args.traceback:
            raise
        reason = " ".join(str(error).split()) or type(error).__name__
        if not isinstance(error, CliError):
            reason += " (run with --traceback for details)"
        print(f"{PROG} {args.command}: error: {reason}", file=sys.stderr)
        return 2
    return 0
