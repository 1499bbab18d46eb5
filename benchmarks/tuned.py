"""The accuracy benchmark's recipe, chosen by KerasTuner on validation data.

Setting (a) of `benchmarks/accuracy.py` (MLP 784-128-10, all labels, 10
epochs, Adam with cosine decay, batch 128), with the recipe searched
instead of picked by hand:

1. A validation split (6,000 images, drawn with seed 0) is carved from the
   60,000 training images. The teacher (the same CNN, the same epochs) is
   trained on the other 54,000 only.
2. `kd.tuning.DistillationHyperModel` is searched by a KerasTuner tuner on
   those 54,000 (the teacher's outputs cached once with
   `kd.cache_teacher_outputs`): the loss family, the temperature, alpha
   (1.0, the labels alone, among them) and the learning rate. Each trial
   trains the benchmark's student for the benchmark's epochs and is scored
   by its accuracy on the validation split. The test set is not read
   during the search.
3. The scratch student's learning rate gets a search of its own on the
   same split (every candidate tried: it is the only hyperparameter), so
   that distillation is compared with a student tuned as much; the scratch
   student is also trained at the recipe's learning rate, which separates
   what the rate gives from what distillation gives.
4. The winners, the scratch student and the hand-picked `ours_best` (both
   at the benchmark's learning rate) are then trained on all 60,000 images
   (the teacher's logits of every one) by `benchmarks.accuracy.train`, the
   same pipeline and step count for every row, with three seeds, and
   scored on the 10,000 test images.

Usage:
  python -m benchmarks.tuned                    # the full run (docs/benchmarks.md)
  python -m benchmarks.tuned --reuse-search     # the rows again, on the trials in --out
  python -m benchmarks.tuned --quick            # 10k images, 4 trials, 1 seed
  python -m benchmarks.tuned --quick --tiny     # the CI smoke size
"""

import argparse
import time

from benchmarks import common

common.configure_environment()

import keras  # noqa: E402

import keras_distill as kd  # noqa: E402
from benchmarks import accuracy  # noqa: E402
from benchmarks import accuracy_table  # noqa: E402

ROWS = ("scratch", "builtin_default", "builtin_kl", "ours_best", "scratch_tuned",
        "scratch_at_tuned_rate", "ours_tuned", "ours_tuned_distilling")
#: The rows that the searches add to the accuracy benchmark's methods.
SEARCHED = ("scratch_tuned", "scratch_at_tuned_rate", "ours_tuned", "ours_tuned_distilling")
TEMPERATURES = (1.0, 2.0, 4.0, 8.0)
ALPHAS = (0.0, 0.1, 0.3, 0.5, 0.7, 1.0)
LEARNING_RATES = (1e-3, 2e-3, 4e-3, 8e-3)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--tuner", choices=("bayesian", "random"), default="bayesian")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--teacher-epochs", type=int, default=20)
    parser.add_argument("--data-dir", default=common.FASHION_MNIST_DIR)
    parser.add_argument("--cache-dir", default=common.CACHE_DIR)
    parser.add_argument("--out", default="benchmarks/results/tuned.json")
    parser.add_argument("--reuse-search", action="store_true",
                        help="Take both searches' trials (and the other rows' results) "
                             "from --out; train --rows only.")
    parser.add_argument("--rows", default=",".join(ROWS),
                        help="The rows to train (default: all).")
    args = parser.parse_args(argv)
    args.teacher_width = 32
    common.set_fashion_mnist_sizes(args)
    if args.quick:
        args.seeds, args.epochs, args.teacher_epochs, args.trials = "0", 3, 8, 4
    if args.tiny:
        args.epochs, args.teacher_epochs, args.teacher_width, args.trials = 1, 1, 8, 2
    args.seeds = [int(seed) for seed in args.seeds.split(",")]
    args.rows = args.rows.split(",")
    for row in args.rows:
        if row not in ROWS:
            parser.error(f"--rows: {row!r} is not one of {list(ROWS)}")
    return args


def candidate_losses():
    """The loss families searched: those of the hand search."""
    return {
        "kl": kd.losses.KLDivergence(),
        "dkd": kd.losses.DKD(),
        "dist": kd.losses.DIST(temperature=1.0),
        "standardized_kl": kd.losses.KLDivergence(standardize=True),
        "standardized_kl+dist": [kd.losses.KLDivergence(standardize=True),
                                 kd.losses.DIST(temperature=1.0)],
    }


def _shuffled(dataset, count):
    """Fresh example order every epoch, as the benchmark's own datasets."""
    return dataset.unbatch().shuffle(count, seed=0).batch(accuracy.BATCH_SIZE).prefetch(2)


def _run(tuner, args, train, validation, name):
    keras.utils.set_random_seed(0)
    tuner.search(train, validation_data=validation, epochs=args.epochs, verbose=0)
    trials = [
        {"values": dict(trial.hyperparameters.values), "val_accuracy": trial.score}
        for trial in tuner.oracle.get_best_trials(tuner.oracle.max_trials)
    ]
    print(f"{name}: best of {len(trials)} trials {trials[0]['values']} "
          f"(validation {100 * trials[0]['val_accuracy']:.2f}%)", flush=True)
    return trials


def search(args, teacher, x, y, x_val, y_val):
    """Runs the tuner on the recipe; returns its trials, best first."""
    import keras_tuner
    import tensorflow as tf

    steps = args.epochs * accuracy.steps_per_epoch(len(x))
    hypermodel = kd.tuning.DistillationHyperModel(
        teacher, lambda hp: common.student_mlp(), losses=candidate_losses(),
        temperatures=TEMPERATURES, alphas=ALPHAS, learning_rates=LEARNING_RATES,
        student_loss_fn=accuracy._sparse_ce(),
        optimizer=keras.optimizers.Adam(accuracy._cosine(steps)),
    )
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(accuracy.BATCH_SIZE)
    cached = kd.cache_teacher_outputs(teacher, batches, verbose=0)
    tuner_class = {"bayesian": keras_tuner.BayesianOptimization,
                   "random": keras_tuner.RandomSearch}[args.tuner]
    tuner = tuner_class(
        hypermodel, objective="val_accuracy", max_trials=args.trials, seed=0,
        directory=args.tuner_dir, project_name="tuned", overwrite=True,
    )
    return _run(tuner, args, _shuffled(cached, len(x)), (x_val, y_val), "recipe")


def search_scratch(args, x, y, x_val, y_val):
    """Every learning rate for the student alone; returns the trials, best first."""
    import keras_tuner
    import tensorflow as tf

    steps = args.epochs * accuracy.steps_per_epoch(len(x))

    def build(hp):
        student = common.student_mlp()
        rate = hp.Choice("learning_rate", LEARNING_RATES)
        student.compile(optimizer=keras.optimizers.Adam(accuracy._cosine(steps, rate)),
                        loss=accuracy._sparse_ce(), metrics=["accuracy"])
        return student

    tuner = keras_tuner.GridSearch(
        build, objective="val_accuracy", max_trials=len(LEARNING_RATES), seed=0,
        directory=args.tuner_dir, project_name="scratch", overwrite=True,
    )
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(accuracy.BATCH_SIZE)
    return _run(tuner, args, _shuffled(batches, len(x)), (x_val, y_val), "scratch")


def tuned_method(values):
    """The benchmark method (on precomputed logits) of a trial's values."""
    terms = candidate_losses()[values["distillation_loss"]]

    def method(ctx, student):
        fresh = [term.__class__.from_config(term.get_config())
                 for term in (terms if isinstance(terms, list) else [terms])]
        return accuracy._ours(ctx, student, fresh, alpha=values["alpha"],
                              temperature=values["temperature"],
                              learning_rate=values["learning_rate"])

    return method


def scratch_method(values):
    """The scratch method at a trial's learning rate."""

    def method(ctx, student):
        return accuracy.method_scratch(ctx, student, learning_rate=values["learning_rate"])

    return method


def main(argv=None):
    import tempfile

    args = parse_args(argv)
    x_all, y_all, x_test, y_test = accuracy.load_data(
        argparse.Namespace(data_dir=args.data_dir, train_size=args.train_size,
                           test_size=args.test_size))
    train, val = accuracy.validation_split(len(x_all), args.validation_size)
    teacher, _, teacher_accuracy, _ = accuracy.get_teacher(
        args, x_all[train], y_all[train], x_test, y_test)
    print(f"teacher (trained on {len(train)} images) test accuracy "
          f"{100 * teacher_accuracy:.2f}%", flush=True)
    if args.reuse_search:
        settings = {"epochs": args.epochs, "seeds": args.seeds, "validation_size": len(val),
                    "teacher": {"train_size": len(train)}}
        earlier = common.resumed(args.out, settings, ("epochs", "seeds", "validation_size",
                                                      "teacher.train_size"))
        if not earlier:
            raise SystemExit(f"--reuse-search: no earlier run in {args.out}.")
        trials, scratch_trials = earlier["trials"], earlier["scratch_trials"]
        search_seconds = earlier["search_seconds"]
        scratch_search_seconds = earlier.get("scratch_search_seconds")
        search_command = earlier.get("search_command", earlier["command"])
        results = {row: entry["accuracies"] for row, entry in earlier["results"].items()}
    else:
        results = {}
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as args.tuner_dir:
            split = (x_all[train], y_all[train], x_all[val], y_all[val])
            trials = search(args, teacher, *split)
            search_seconds = time.perf_counter() - start
            scratch_trials = search_scratch(args, *split)
            scratch_search_seconds = time.perf_counter() - start - search_seconds
        search_command = common.command_line()
    best = trials[0]["values"]
    # With alpha 1.0 among the choices the winner may not distil at all; the
    # best trial that does is scored too.
    distilling = next((trial["values"] for trial in trials if trial["values"]["alpha"] < 1.0),
                      None)
    ctx = {"teacher": teacher, "x": x_all, "y": y_all, "x_test": x_test, "y_test": y_test,
           "epochs": args.epochs,
           "logits": teacher.predict(x_all, batch_size=1024, verbose=0).astype("float32")}
    accuracy.METHODS.update(scratch_tuned=scratch_method(scratch_trials[0]["values"]),
                            scratch_at_tuned_rate=scratch_method(best),
                            ours_tuned=tuned_method(best),
                            ours_tuned_distilling=tuned_method(distilling or best))
    try:
        for row in args.rows:
            if row == "ours_tuned_distilling" and distilling is None:
                print(f"{row}: skipped, every trial had alpha 1.0", flush=True)
                continue
            results[row] = {}  # A row trained again replaces its earlier run whole.
            for seed in args.seeds:
                value = accuracy.train("a", row, seed, ctx)
                results[row][str(seed)] = value
                print(f"{row} seed {seed}: {100 * value:.2f}%", flush=True)
    finally:
        for row in SEARCHED:
            del accuracy.METHODS[row]
    report = {
        "command": common.command_line(), "search_command": search_command,
        "machine": common.machine_description(),
        "seeds": args.seeds, "epochs": args.epochs, "tuner": args.tuner,
        "teacher": {"test_accuracy": teacher_accuracy, "train_size": len(train)},
        "validation_size": len(val), "search_seconds": search_seconds,
        "scratch_search_seconds": scratch_search_seconds,
        "best": best, "best_distilling": distilling, "trials": trials,
        "scratch_trials": scratch_trials,
        "results": {row: {"accuracies": values} for row, values in results.items()},
    }
    common.write_json(args.out, report)
    print(accuracy_table.summarize({"a": report["results"]}, ["a"], args.rows,
                                 accuracy.SETTINGS))
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
