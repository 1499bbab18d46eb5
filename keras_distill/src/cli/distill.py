"""`keras-distill distill`: distill your own teacher into your own student.

The teacher is a saved Keras model; the student is a saved (untrained) model
or `module:function` that builds one (the function gets `input_shape` and
`num_classes` when it names them). Both must output logits for the dataset's
classes. Writes the trained student, results.json and report.png to --out.
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
from keras_distill.src.cli.options import schedule
from keras_distill.src.data.dataset import label_budget
from keras_distill.src.data.loaders import load
from keras_distill.src.losses.base import DistillationLoss

EXAMPLE = """example:
  keras-distill distill --teacher keras-distill-demo/teacher.keras --student my_models:build_student
  keras-distill distill --teacher t.keras --student s.keras --dataset tfds:mnist --epochs 5 \\
      --temperature 8:2 --alpha 0.1 --labels 1000 --out runs/mnist
"""


def add_parser(subparsers):
    parser = options.add_command(
        subparsers, "distill", __doc__, EXAMPLE,
        help="distill a saved teacher into your student; write the student and a report",
    )
    parser.add_argument("--teacher", required=True, help="the trained teacher (.keras)")
    parser.add_argument(
        "--student", required=True, help="an untrained student (.keras), or module:function"
    )
    options.add_data_options(parser)
    parser.add_argument(
        "--labels",
        type=options.positive_int,
        help="label budget: keep only this many labels, the rest get "
        "distillation alone (default: every label)",
    )
    parser.add_argument(
        "--distillation-loss",
        default="KLDivergence",
        help="a keras_distill.losses class name, or a Keras loss name such as "
        "kl_divergence (default: %(default)s)",
    )
    options.add_training_options(
        parser, epochs=10, learning_rate=0.001, temperature=4.0, alpha=0.1
    )
    options.add_output_options(parser, out="keras-distill-student")
    parser.set_defaults(run=run)
    return parser


def distillation_loss(name):
    """`--distillation-loss`: a registered keras_distill term, or a Keras loss."""
    term = keras.saving.get_registered_object(f"keras_distill>{name}")
    if isinstance(term, type) and issubclass(term, DistillationLoss):
        return term()
    try:
        return keras.losses.get(name)
    except ValueError:
        known = sorted(
            key.split(">", 1)[1]
            for key, value in keras.saving.get_custom_objects().items()
            if key.startswith("keras_distill>")
            and isinstance(value, type)
            and issubclass(value, DistillationLoss)
            and value is not DistillationLoss
        )
        raise CliError(
            f"--distillation-loss: unknown loss {name!r}; expected one of {known} "
            "or a Keras loss name such as 'kl_divergence'"
        ) from None


def run(args):
    start = time.time()
    report.check_matplotlib()
    loss = distillation_loss(args.distillation_loss)
    teacher = models_lib.load_model_file(args.teacher, "--teacher")
    keras.utils.set_random_seed(args.seed)
    data = load(args.dataset, data_dir=args.data_dir, batch_size=args.batch_size, seed=args.seed)
    student = models_lib.load_student(args.student, data.input_shape, data.num_classes)
    models_lib.check_model(teacher, "--teacher", data.input_shape, data.num_classes)
    models_lib.check_model(student, "--student", data.input_shape, data.num_classes)
    labels = data.num_train if args.labels is None else args.labels
    if labels > data.num_train:
        raise CliError(f"--labels {labels} is more than the {data.num_train:,} training examples")
    train = data.train
    if labels < data.num_train:
        _, mixed = label_budget(data.train_examples, data.num_train, labels, args.seed)
        train = data.pipeline(mixed, shuffle=True)
    total_steps = math.ceil(data.num_train / args.batch_size) * args.epochs
    os.makedirs(args.out, exist_ok=True)
    history = training.distill(
        teacher, student, train, validation_data=data.test,
        epochs=args.epochs, learning_rate=args.learning_rate,
        temperature=schedule(args.temperature, total_steps),
        alpha=schedule(args.alpha, total_steps),
        distillation_loss_fn=loss, verbose=not args.quiet,
        title=f"distilling {teacher.name!r} into {student.name!r}",
    )
    path = os.path.join(args.out, "student.keras")
    student.save(path)
    results = {
        **run_info.header("distill", args, data),
        "settings": {
            "teacher": args.teacher,
            "student": args.student,
            "distillation_loss": args.distillation_loss,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "temperature": hyperparameter_text(args.temperature),
            "alpha": hyperparameter_text(args.alpha),
            "labels": labels,
            "seed": args.seed,
        },
        "models": {
            "teacher": training.model_entry("teacher", teacher, data.test, None),
            "distilled": dict(
                training.model_entry("student, distilled", student, data.test, labels),
                file="student.keras",
                file_size_bytes=report.file_size(path),
            ),
        },
        "history": training.history_lists(history),
        "seconds": {"total": round(time.time() - start, 2)},
    }
    report.write_results(results, os.path.join(args.out, "results.json"))
    report.plot_report(results, os.path.join(args.out, "report.png"))
    report.print_summary(results, args.out, not args.quiet)
    return results

