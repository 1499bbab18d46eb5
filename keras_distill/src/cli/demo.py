"""`keras-distill demo`: teacher, scratch student and distilled student, side by side.

The default shows the setting distillation is for, honestly: a teacher
trained on every label, and a small student with a label budget. The student
from scratch sees only the labeled examples; the distilled student sees the
same labels plus the teacher's outputs on the unlabeled rest. A reference
row trains the same student on every label.
"""

import math
import os
import time

import keras

from keras_distill.src.cli import models as models_lib
from keras_distill.src.cli import options
from keras_distill.src.cli import report
from keras_distill.src.cli import run_info
from keras_distill.src.cli import training
from keras_distill.src.cli.options import CliError
from keras_distill.src.cli.options import hyperparameter_text
from keras_distill.src.data.dataset import label_budget
from keras_distill.src.data.loaders import load

EXAMPLE = """example:
  keras-distill demo                        # digits, no network, < 2 min on 2 CPU cores
  keras-distill demo --dataset fashion_mnist --labels 1000 --epochs 5 --out runs/fmnist
  keras-distill demo --temperature 8:2 --alpha 0.5 --seed 1 --quiet
"""
#: How many test examples the TFLite parity check runs on.
PARITY_SAMPLES = 10_000


def add_parser(subparsers):
    parser = options.add_command(
        subparsers, "demo", __doc__, EXAMPLE,
        help="train a teacher, a student from scratch and a distilled student; "
        "export to TFLite; print a table",
        data_options=True,
    )
    parser.add_argument(
        "--labels",
        type=options.positive_int,
        default=100,
        help="label budget: how many training examples keep their label "
        "(default: %(default)s); the teacher is trained on all of them",
    )
    options.add_training_options(
        parser, epochs=20, learning_rate=0.01, temperature=2.0, alpha=0.5
    )
    options.add_output_options(parser, out="keras-distill-demo")
    parser.set_defaults(run=run)
    return parser


def run(args):
    """Runs the demo; returns the results dict also written to results.json."""
    start = time.time()
    report.check_matplotlib()
    keras.utils.set_random_seed(args.seed)
    data = load(args.dataset, data_dir=args.data_dir, batch_size=args.batch_size, seed=args.seed)
    if args.labels > data.num_train:
        raise CliError(
            f"--labels {args.labels} is more than the {data.num_train:,} training "
            f"examples of {args.dataset}"
        )
    os.makedirs(args.out, exist_ok=True)
    seconds = {}
    teacher, students, history = _train(args, data, seconds)
    results = _results(args, data, teacher, students, history)
    begin = time.time()
    _save_and_export(args, data, teacher, students["distilled"], results)
    seconds["save_and_export"] = round(time.time() - begin, 2)
    results["seconds"] = dict(seconds, total=round(time.time() - start, 2))
    report.write_results(results, os.path.join(args.out, "results.json"))
    report.plot_report(results, os.path.join(args.out, "report.png"))
    report.print_summary(results, args.out, verbose=not args.quiet)
    return results


def _train(args, data, seconds):
    """Trains the teacher and the three students; times each in `seconds`."""
    labeled, mixed = label_budget(data.train_examples, data.num_train, args.labels, args.seed)
    steps = math.ceil(data.num_train / args.batch_size)
    fit_options = {
        "epochs": args.epochs, "learning_rate": args.learning_rate, "verbose": not args.quiet
    }

    def timed(key, function, *arguments, **keywords):
        begin = time.time()
        value = function(*arguments, **keywords)
        seconds[key] = round(time.time() - begin, 2)
        return value

    teacher = models_lib.build_teacher(data.input_shape, data.num_classes)
    timed("teacher", training.train_classifier, teacher, data.train,
          title=f"[1/4] teacher on all {data.num_train:,} labels", **fit_options)
    # Three copies of one student, starting from the same weights.
    initial = models_lib.build_student(data.input_shape, data.num_classes)
    students = {}
    for key in ("scratch", "scratch_all_labels", "distilled"):
        students[key] = keras.models.clone_model(initial)
        students[key].set_weights(initial.get_weights())
    # As many steps as the others, over the labeled examples only.
    timed("scratch", training.train_classifier, students["scratch"],
          data.pipeline(labeled.cache(), shuffle=True, repeat=True), steps_per_epoch=steps,
          title=f"[2/4] student from scratch on {args.labels:,} labels", **fit_options)
    timed("scratch_all_labels", training.train_classifier, students["scratch_all_labels"],
          data.train, title=f"[3/4] reference: student on all {data.num_train:,} labels",
          **fit_options)
    history = timed(
        "distilled", training.distill, teacher, students["distilled"],
        data.pipeline(mixed, shuffle=True), validation_data=data.test,
        temperature=options.schedule(args.temperature, steps * args.epochs),
        alpha=options.schedule(args.alpha, steps * args.epochs),
        title=f"[4/4] distilled student: {args.labels:,} labels + teacher on "
        f"{data.num_train:,} inputs", **fit_options,
    )
    return teacher, students, history


def _results(args, data, teacher, students, history):
    def entry(title, model, labels):
        return training.model_entry(
            title, model, data.test, labels, architecture=models_lib.architecture(model)
        )

    return {
        **run_info.header("demo", args, data),
        "settings": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "temperature": hyperparameter_text(args.temperature),
            "alpha": hyperparameter_text(args.alpha),
            "labels": args.labels,
            "seed": args.seed,
        },
        "models": {
            "teacher": entry("teacher", teacher, data.num_train),
            "scratch": entry("student, from scratch", students["scratch"], args.labels),
            "scratch_all_labels": entry(
                "student, all labels (reference)", students["scratch_all_labels"],
                data.num_train,
            ),
            "distilled": entry("student, distilled", students["distilled"], args.labels),
        },
        "history": training.history_lists(history),
    }


def _save_and_export(args, data, teacher, student, results):
    from keras_distill.export import compare_exported
    from keras_distill.export import export_student

    models = results["models"]
    for key, model, name in (("teacher", teacher, "teacher.keras"),
                             ("distilled", student, "student.keras")):
        path = os.path.join(args.out, name)
        model.save(path)
        models[key].update(file=name, file_size_bytes=report.file_size(path))
    path = export_student(student, os.path.join(args.out, "student.tflite"), format="tflite")
    x, y = data.arrays("test", limit=PARITY_SAMPLES)
    parity = compare_exported(student, path, x, y)
    results["tflite"] = report.json_ready(parity)
    models["distilled_tflite"] = dict(
        models["distilled"],
        title="student, distilled, TFLite",
        accuracy=float(parity["exported_accuracy"]),
        file="student.tflite",
        file_size_bytes=report.file_size(path),
    )

