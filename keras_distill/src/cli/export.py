"""`keras-distill export`: a saved student to TFLite and/or SavedModel, checked.

Each exported file is run on the same inputs as the Keras model, and the
parity table shows how far its outputs are (and its accuracy, with
--dataset). Without --dataset the check runs on random inputs in [0, 1).
"""

import os

import numpy as np

from keras_distill.src.cli import models as models_lib
from keras_distill.src.cli import options
from keras_distill.src.cli import report
from keras_distill.src.cli.options import CliError
from keras_distill.src.data.loaders import load

EXAMPLE = """example:
  keras-distill export keras-distill-demo/student.keras --format tflite --quantization dynamic
  keras-distill export student.keras --format tflite saved_model --dataset digits --out exported
  keras-distill export student.keras --quantization int8 --dataset fashion_mnist
"""
FORMATS = ("tflite", "saved_model")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
#: Training inputs used to calibrate int8 quantization.
REPRESENTATIVE_SAMPLES = 200


def add_parser(subparsers):
    parser = options.add_command(
        subparsers, "export", __doc__, EXAMPLE,
        help="export a saved student to TFLite/SavedModel and print the parity table",
    )
    parser.add_argument("model", help="the saved student (.keras)")
    parser.add_argument(
        "--format", nargs="+", choices=FORMATS, default=["tflite"],
        help="one or more formats (default: tflite)",
    )
    parser.add_argument(
        "--quantization", choices=QUANTIZATIONS, default="none",
        help="TFLite quantization; int8 needs --dataset (default: %(default)s)",
    )
    options.add_data_options(parser, default=None)
    parser.add_argument(
        "--samples", type=options.positive_int, default=1000,
        help="inputs to compare outputs on (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of random inputs")
    options.add_output_options(parser, out="keras-distill-export")
    parser.set_defaults(run=run)
    return parser


def _inputs(args, student):
    """Parity inputs `(x, y)` and int8 calibration inputs."""
    input_shape = tuple(student.inputs[0].shape[1:])
    if args.dataset is None:
        if args.quantization == "int8":
            raise CliError("--quantization int8 needs --dataset: its training inputs calibrate it")
        if None in input_shape:
            raise CliError(
                f"the model's input shape {input_shape} is not fixed: pass --dataset for inputs"
            )
        rng = np.random.default_rng(args.seed)
        return rng.random((args.samples, *input_shape), dtype="float32"), None, None
    data = load(args.dataset, data_dir=args.data_dir, batch_size=256, seed=args.seed)
    models_lib.check_model(student, "model", data.input_shape, data.num_classes)
    x, y = data.arrays("test", limit=args.samples)
    representative = None
    if args.quantization == "int8":
        representative, _ = data.arrays("train", limit=REPRESENTATIVE_SAMPLES)
    return x, y, representative


def run(args):
    from keras_distill.export import compare_exported
    from keras_distill.export import export_student
    from keras_distill.export import format_parity_table

    if args.quantization != "none" and "tflite" not in args.format:
        raise CliError("--quantization applies to --format tflite only")
    student = models_lib.load_model_file(args.model, "model")
    x, y, representative = _inputs(args, student)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.model))[0]
    quantization = None if args.quantization == "none" else args.quantization
    reports = []
    for export_format in args.format:
        if export_format == "tflite":
            suffix = f"_{quantization}" if quantization else ""
            path = export_student(
                student, os.path.join(args.out, f"{stem}{suffix}.tflite"), format="tflite",
                quantization=quantization, representative_data=representative,
            )
        else:
            path = export_student(
                student, os.path.join(args.out, f"{stem}_saved_model"), format="saved_model"
            )
        if not args.quiet:
            print(f"exported {path} ({report.file_size(path):,} bytes)")
        reports.append(dict(compare_exported(student, path, x, y), path=path))
    report.write_results(
        [report.json_ready(item) for item in reports],
        os.path.join(args.out, "parity.json"),
    )
    print(format_parity_table(reports))
    return reports

