"""The accuracy benchmark's recipe, chosen by KerasTuner on validation data.

Setting (a) of `benchmarks/accuracy.py` (MLP 784-128-10, all labels, 10
epochs, Adam with cosine decay, batch 128), with the recipe searched
instead of picked by hand:

1. A validation split (6,000 images, drawn with seed 0) is carved from the
   60,000 training images. The teacher (the same CNN, the same epochs) is
   trained on the other 54,000 only.
2. `kd.tuning.DistillationHyperModel` is searched by a KerasTuner tuner on
   those 54,000 (the teacher's outputs cached once with
   `kd.cache_teacher_outputs`): the loss family, the temperature and
   alpha. Each trial trains the benchmark's student for the benchmark's
   epochs and is scored by its accuracy on the validation split. The test
   set is not read during the search.
3. The winner, the scratch student and the hand-picked `ours_best` are
   then trained on all 60,000 images (the teacher's logits of every one)
   by `benchmarks.accuracy.train`, the same pipeline and step count for
   every row, with three seeds, and scored on the 10,000 test images.

Usage:
  python -m benchmarks.tuned                    # the full run (docs/benchmarks.md)
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

ROWS = ("scratch", "ours_best", "ours_tuned")
TEMPERATURES = (1.0, 2.0, 4.0, 8.0)
ALPHAS = (0.0, 0.1, 0.3, 0.5, 0.7)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--tuner", choices=("bayesian", "random"), default="bayesian")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--teacher-epochs", type=int, default=20)
    parser.add_argument("--data-dir", default=common.FASHION_MNIST_DIR)
    parser.add_argument("--cache-dir", default=common.CACHE_DIR)
    parser.add_argument("--out", default="benchmarks/results/tuned.json")
    args = parser.parse_args(argv)
    args.teacher_width = 32
    common.set_fashion_mnist_sizes(args)
    if args.quick:
        args.seeds, args.epochs, args.teacher_epochs, args.trials = "0", 3, 8, 4
    if args.tiny:
        args.epochs, args.teacher_epochs, args.teacher_width, args.trials = 1, 1, 8, 2
    args.seeds = [int(seed) for seed in args.seeds.split(",")]
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


def search(args, teacher, x, y, x_val, y_val):
    """Runs the tuner; returns (best hyperparameter values, trials)."""
    import keras_tuner
    import tensorflow as tf

    steps = args.epochs * accuracy.steps_per_epoch(len(x))
    hypermodel = kd.tuning.DistillationHyperModel(
        teacher, lambda hp: common.student_mlp(), losses=candidate_losses(),
        temperatures=TEMPERATURES, alphas=ALPHAS,
        student_loss_fn=accuracy._sparse_ce(),
        optimizer=keras.optimizers.Adam(accuracy._cosine(steps)),
    )
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(accuracy.BATCH_SIZE)
    cached = kd.cache_teacher_outputs(teacher, batches, verbose=0)
    # Fresh example order every epoch, as the benchmark's own datasets.
    train = cached.unbatch().shuffle(len(x), seed=0).batch(accuracy.BATCH_SIZE).prefetch(2)
    tuner_class = {"bayesian": keras_tuner.BayesianOptimization,
                   "random": keras_tuner.RandomSearch}[args.tuner]
    tuner = tuner_class(
        hypermodel, objective="val_accuracy", max_trials=args.trials, seed=0,
        directory=args.tuner_dir, project_name="tuned", overwrite=True,
    )
    keras.utils.set_random_seed(0)
    tuner.search(train, validation_data=(x_val, y_val), epochs=args.epochs, verbose=0)
    trials = [
        {"values": dict(trial.hyperparameters.values), "val_accuracy": trial.score}
        for trial in tuner.oracle.get_best_trials(args.trials)
    ]
    return trials[0]["values"], trials


def tuned_method(values):
    """The benchmark method (on precomputed logits) of a trial's values."""
    terms = candidate_losses()[values["distillation_loss"]]

    def method(ctx, student):
        fresh = [term.__class__.from_config(term.get_config())
                 for term in (terms if isinstance(terms, list) else [terms])]
        return accuracy._ours(ctx, student, fresh, alpha=values["alpha"],
                              temperature=values["temperature"])

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
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as args.tuner_dir:
        best, trials = search(args, teacher, x_all[train], y_all[train],
                              x_all[val], y_all[val])
    search_seconds = time.perf_counter() - start
    print(f"best of {len(trials)} trials: {best} "
          f"(validation {100 * trials[0]['val_accuracy']:.2f}%) in {search_seconds:.0f}s",
          flush=True)
    ctx = {"teacher": teacher, "x": x_all, "y": y_all, "x_test": x_test, "y_test": y_test,
           "epochs": args.epochs,
           "logits": teacher.predict(x_all, batch_size=1024, verbose=0).astype("float32")}
    results = {}
    accuracy.METHODS["ours_tuned"] = tuned_method(best)
    try:
        for row in ROWS:
            for seed in args.seeds:
                value = accuracy.train("a", row, seed, ctx)
                results.setdefault(row, {})[str(seed)] = value
                print(f"{row} seed {seed}: {100 * value:.2f}%", flush=True)
    finally:
        del accuracy.METHODS["ours_tuned"]
    report = {
        "command": common.command_line(), "machine": common.machine_description(),
        "seeds": args.seeds, "epochs": args.epochs, "tuner": args.tuner,
        "teacher": {"test_accuracy": teacher_accuracy, "train_size": len(train)},
        "validation_size": len(val), "search_seconds": search_seconds,
        "best": best, "trials": trials,
        "results": {row: {"accuracies": values} for row, values in results.items()},
    }
    common.write_json(args.out, report)
    print(accuracy_table.summarize({"a": report["results"]}, ["a"], list(ROWS),
                                 accuracy.SETTINGS))
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
