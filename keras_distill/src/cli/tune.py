"""`keras-distill tune`: search the distillation recipe and the student's size.

A teacher is trained on the training split less a validation split carved
from it. KerasTuner then searches `keras_distill.tuning.DistillationHyperModel`:
the distillation loss (KD, DKD, DIST, standardized KD), temperature, alpha
and the student's hidden width, each trial scored by its validation
accuracy. Every trial's student is then measured: parameters, TFLite bytes
and latency, validation and test accuracy. The table marks the Pareto front
of size against validation accuracy; the test set is read only for the
table, never for a choice.
"""

import os
import time

import keras

from keras_distill.src.cli import models as models_lib
from keras_distill.src.cli import options
from keras_distill.src.cli import report
from keras_distill.src.cli import run_info
from keras_distill.src.cli import training
from keras_distill.src.cli.options import CliError
from keras_distill.src.data.loaders import load
from keras_distill.src.utils.imports import require

EXAMPLE = """example:
  keras-distill tune                        # digits, 8 trials, a few minutes on 2 CPU cores
  keras-distill tune --dataset fashion_mnist --trials 20 --epochs 10 --out runs/tune
  keras-distill tune --tuner bayesian --widths 16,32,64,128 --validation-split 0.1
"""
TUNERS = ("random", "bayesian", "hyperband")
#: Single-example calls timed per TFLite student.
LATENCY_EXAMPLES = 200


def _widths(text):
    try:
        widths = sorted({int(part) for part in text.split(",")})
    except ValueError:
        widths = []
    if not widths or widths[0] < 1:
        raise options.argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, e.g. 8,16,32; got {text!r}"
        )
    return widths


HELP = ("search loss, temperature, alpha and student width on KerasTuner; print size "
        "against validation and test accuracy")


def add_parser(subparsers):
    parser = options.add_command(subparsers, "tune", __doc__, EXAMPLE, HELP, data_options=True)
    parser.add_argument("--trials", type=options.positive_int, default=8,
                        help="trials of the search (default: %(default)s)")
    parser.add_argument("--tuner", choices=TUNERS, default="random",
                        help="KerasTuner tuner (default: %(default)s)")
    parser.add_argument("--widths", type=_widths, default=[8, 16, 32, 64],
                        help="hidden widths of the student MLP to search (default: 8,16,32,64)")
    parser.add_argument("--validation-split", type=options.hyperparameter(0.0, 1.0, True),
                        default=0.2, help="share of the training split held out for "
                        "scoring the trials (default: %(default)s)")
    parser.add_argument("--epochs", type=options.positive_int, default=5,
                        help="epochs of the teacher and of each trial (default: %(default)s)")
    parser.add_argument("--batch-size", type=options.positive_int, default=64,
                        help="default: %(default)s")
    parser.add_argument("--learning-rate", type=options.positive_float, default=0.01,
                        help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    options.add_output_options(parser, out="keras-distill-tune")
    parser.set_defaults(run=run)
    return parser


def _split(data, fraction, seed):
    """`(train, validation)` example sets: a seeded share of the training split."""
    count = int(round(data.num_train * fraction))
    if not 0 < count < data.num_train:
        raise CliError(
            f"--validation-split {fraction} leaves no validation or no training "
            f"examples of the {data.num_train:,} of {data.name}"
        )
    examples = data.train_examples.shuffle(
        data.num_train, seed=seed, reshuffle_each_iteration=False
    )
    return examples.skip(count).cache(), examples.take(count).cache(), count


def _tuner(args, hypermodel, directory):
    keras_tuner = require("keras_tuner", "keras-tuner", "tune")
    common = {"objective": "val_accuracy", "seed": args.seed, "directory": directory,
              "project_name": "search", "overwrite": True}
    if args.tuner == "hyperband":
        return keras_tuner.Hyperband(hypermodel, max_epochs=args.epochs, **common)
    tuner = (keras_tuner.RandomSearch if args.tuner == "random"
             else keras_tuner.BayesianOptimization)
    return tuner(hypermodel, max_trials=args.trials, **common)


def _hypermodel(args, data, teacher):
    from keras_distill.tuning import DistillationHyperModel

    def build_student(hp):
        width = hp.Choice("width", args.widths)
        return models_lib.mlp(data.input_shape, data.num_classes, (width,), "student")

    return DistillationHyperModel(
        teacher, build_student,
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.Adam(args.learning_rate),
    )


def pareto_front(rows):
    """Indices of the rows no other row beats on both `params` (fewer) and
    `val_accuracy` (higher)."""
    front = []
    for i, row in enumerate(rows):
        dominated = any(
            other["params"] <= row["params"] and other["val_accuracy"] >= row["val_accuracy"]
            and (other["params"], other["val_accuracy"]) != (row["params"], row["val_accuracy"])
            for other in rows
        )
        if not dominated:
            front.append(i)
    return front


def _measure(student, path, validation, test, x_test):
    from keras_distill.export import compare_exported
    from keras_distill.export import export_student

    export_student(student, path, format="tflite")
    parity = compare_exported(student, path, x_test, latency_examples=LATENCY_EXAMPLES)
    return {
        "params": student.count_params(),
        "val_accuracy": training.accuracy(student, validation),
        "test_accuracy": training.accuracy(student, test),
        "tflite_bytes": report.file_size(path),
        "tflite_latency_ms": float(parity["exported_latency_ms"]),
    }


def run(args):
    """Runs the search; returns the results dict also written to results.json."""
    start = time.time()
    report.check_matplotlib()
    require("keras_tuner", "keras-tuner", "tune")
    keras.utils.set_random_seed(args.seed)
    data = load(args.dataset, data_dir=args.data_dir, batch_size=args.batch_size, seed=args.seed)
    train_examples, validation_examples, num_validation = _split(
        data, args.validation_split, args.seed
    )
    train = data.pipeline(train_examples, shuffle=True)
    validation = data.pipeline(validation_examples)
    os.makedirs(args.out, exist_ok=True)
    teacher = models_lib.build_teacher(data.input_shape, data.num_classes)
    training.train_classifier(
        teacher, train, epochs=args.epochs, learning_rate=args.learning_rate,
        title=f"teacher on {data.num_train - num_validation:,} labels", verbose=not args.quiet,
    )
    tuner = _tuner(args, _hypermodel(args, data, teacher), os.path.join(args.out, "search"))
    tuner.search(train, validation_data=validation, epochs=args.epochs,
                 verbose=0 if args.quiet else 1)
    x_test, _ = data.arrays("test")
    rows = []
    for rank, trial in enumerate(tuner.oracle.get_best_trials(num_trials=10**6)):
        student = tuner.load_model(trial).student
        path = os.path.join(args.out, f"student_{rank}.tflite")
        row = {"trial": trial.trial_id, "score": float(trial.score),
               "hyperparameters": dict(trial.hyperparameters.values)}
        row.update(_measure(student, path, validation, data.test, x_test))
        rows.append(row)
    for index in pareto_front(rows):
        rows[index]["pareto"] = True
    results = {
        **run_info.header("tune", args, data),
        "settings": {"tuner": args.tuner, "trials": args.trials, "epochs": args.epochs,
                     "widths": args.widths, "validation_examples": num_validation,
                     "learning_rate": args.learning_rate, "seed": args.seed},
        "teacher": {"params": teacher.count_params(),
                    "val_accuracy": training.accuracy(teacher, validation),
                    "test_accuracy": training.accuracy(teacher, data.test)},
        "trials": [report.json_ready(row) for row in rows],
        "seconds": round(time.time() - start, 2),
    }
    report.write_results(results, os.path.join(args.out, "results.json"))
    plot_front(results, os.path.join(args.out, "tune.png"))
    print(format_trials(results))
    return results


def format_trials(results):
    """The text table of a search: one row per trial, best validation first."""
    header = ("", "loss", "T", "alpha", "width", "params", "tflite", "ms",
              "val acc", "test acc")
    rows = [header]
    for row in results["trials"]:
        hp = row["hyperparameters"]
        rows.append((
            "*" if row.get("pareto") else "", hp["distillation_loss"], f"{hp['temperature']:g}",
            f"{hp['alpha']:g}", str(hp["width"]), f"{row['params']:,}",
            f"{row['tflite_bytes']:,}", f"{row['tflite_latency_ms']:.3f}",
            f"{100 * row['val_accuracy']:.1f}%", f"{100 * row['test_accuracy']:.1f}%",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}"
                       for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    teacher = results["teacher"]
    lines.append(
        f"* Pareto front of parameters against validation accuracy. Teacher: "
        f"{teacher['params']:,} params, {100 * teacher['val_accuracy']:.1f}% val, "
        f"{100 * teacher['test_accuracy']:.1f}% test."
    )
    return "\n".join(lines)


def plot_front(results, path):
    """tune.png: parameters against accuracy for every trial, front marked."""
    figure_lib = require("matplotlib.figure", "matplotlib", "demo")
    figure = figure_lib.Figure(figsize=(7, 4.5), dpi=100)
    axis = figure.subplots()
    trials = results["trials"]
    params = [row["params"] for row in trials]
    axis.scatter(params, [row["val_accuracy"] for row in trials], label="validation")
    axis.scatter(params, [row["test_accuracy"] for row in trials], marker="x", label="test")
    front = sorted((row["params"], row["val_accuracy"]) for row in trials if row.get("pareto"))
    axis.plot(*zip(*front), linestyle="--", label="Pareto front (validation)")
    axis.set_xscale("log")
    axis.set_xlabel("student parameters")
    axis.set_ylabel("accuracy")
    axis.set_title(f"keras-distill tune: {results['dataset']['name']}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
