"""Accuracy on Fashion-MNIST: keras-distill vs keras.distillation vs scratch.

Settings (students distilled from one CNN teacher, cached in benchmarks/.cache):
  a  MLP 784-128-10, all 60,000 labels
  b  small CNN (8 and 16 filters), all labels
  c  MLP with 1,000 labels (100 per class); the other 59,000 training images
     are seen only through the teacher (x-only batches: distillation alone)

Every method of a setting trains for the same number of optimizer steps with
the same optimizer (Adam) and learning-rate schedule (cosine decay from 1e-3
to 0), batch 128, and is scored on the final epoch's student (no early
stopping, no checkpoint picking) on the 10,000 test images.

Usage: python -m benchmarks.accuracy [--quick [--tiny]] [--resume] (see
docs/benchmarks.md); --quick: < 5 minutes, 1 seed, 10k images; --tiny: CI's
size; python -m benchmarks.recipes: the recipe search (same flags).
"""

import argparse
import os
import time

from benchmarks import common

common.configure_environment()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import accuracy_table  # noqa: E402
from benchmarks import features  # noqa: E402
from benchmarks.features import IMAGE  # noqa: E402
from benchmarks.features import TEACHER_LOGITS  # noqa: E402
from benchmarks.features import Unavailable  # noqa: E402

SETTINGS = {
    "a": "MLP 784-128-10, full labels",
    "b": "CNN (8, 16 filters), full labels",
    "c": "MLP 784-128-10, 1,000 labels, the rest only via the teacher",
}
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
#: What --resume requires of the file's earlier runs ("a.b": key b of a).
RESUMED_WHEN_EQUAL = ("epochs", "train_size", "test_size", "labels_in_c", "scored_on",
                      "teacher.epochs", "teacher.width", "teacher.folds")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 10k training images, 3 epochs, 8-epoch teacher (< 5 min).")
    parser.add_argument("--tiny", action="store_true",
                        help="With --quick: CI smoke size (< 1 min).")
    parser.add_argument("--settings", default="a,b,c")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--teacher-epochs", type=int, default=20)
    parser.add_argument("--labels", type=int, default=1000,
                        help="Labeled examples in setting c.")
    parser.add_argument("--data-dir", default=common.FASHION_MNIST_DIR)
    parser.add_argument("--cache-dir", default=common.CACHE_DIR)
    parser.add_argument("--out", default="benchmarks/results/accuracy.json")
    parser.add_argument("--validation", action="store_true",
                        help="Score on benchmarks.tuned's validation split of the training "
                             "set (the teacher trained without it), not on the test set.")
    parser.add_argument("--teacher-folds", type=int, default=1,
                        help="Train on cross-fitted teacher logits (benchmarks/cross_fit.py).")
    parser.add_argument("--resume", action="store_true",
                        help="Keep the runs already in --out; run the rest.")
    parser.add_argument("--report", nargs="+", metavar="JSON",
                        help="Print the table of these result files; train nothing.")
    args = parser.parse_args(argv)
    args.teacher_width = 32
    common.set_fashion_mnist_sizes(args)
    if args.quick:
        args.seeds, args.epochs, args.teacher_epochs = "0", 3, 8
    if args.tiny:
        args.epochs, args.teacher_epochs, args.teacher_width, args.labels = 1, 1, 8, 128
        args.settings = "a,c" if args.settings == "a,b,c" else args.settings
    args.settings = args.settings.split(",")
    args.methods = args.methods.split(",")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    for setting in args.settings:
        if setting not in SETTINGS:
            parser.error(f"--settings: {setting!r} is not one of {list(SETTINGS)}")
    for method in args.methods:
        if method not in METHODS:
            parser.error(f"--methods: {method!r} is not one of {list(METHODS)}")
    return args


# ----------------------------------------------------------------------
# Data and teacher
# ----------------------------------------------------------------------


def load_data(args):
    """(x, y, x_test, y_test); with `args.validation`, x_test is the validation split."""
    (x, y), (x_test, y_test) = common.load_fashion_mnist(args.data_dir)
    if args.train_size:
        x, y = x[: args.train_size], y[: args.train_size]
        x_test, y_test = x_test[: args.test_size], y_test[: args.test_size]
    if getattr(args, "validation", False):
        train, val = validation_split(len(x), args.validation_size)
        return x[train], y[train], x[val], y[val]
    return x, y, x_test, y_test


def validation_split(count, size):
    """(train, validation) indices: `size` of `count` drawn with seed 0."""
    order = np.random.default_rng(0).permutation(count)
    return np.sort(order[size:]), np.sort(order[:size])


def accuracy_of(model, x, y):
    logits = model.predict(x, batch_size=1024, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def get_teacher(args, x, y, x_test, y_test, key_suffix=""):
    """Trains the teacher once; later runs load it and its logits."""
    key = f"teacher_w{args.teacher_width}_e{args.teacher_epochs}_n{len(x)}{key_suffix}"
    model_path = os.path.join(args.cache_dir, key + ".keras")
    logits_path = os.path.join(args.cache_dir, key + "_logits.npy")
    if os.path.exists(model_path) and os.path.exists(logits_path):
        teacher = keras.models.load_model(model_path)
        logits = np.load(logits_path)
        return teacher, logits, accuracy_of(teacher, x_test, y_test), 0.0
    start = time.perf_counter()
    keras.utils.set_random_seed(1234)
    teacher = common.teacher_cnn(width=args.teacher_width)
    steps = args.teacher_epochs * -(-len(x) // BATCH_SIZE)
    teacher.compile(
        optimizer=keras.optimizers.Adam(_cosine(steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    teacher.fit(x, y, batch_size=BATCH_SIZE, epochs=args.teacher_epochs,
                verbose=2 if not args.tiny else 0)
    logits = teacher.predict(x, batch_size=1024, verbose=0).astype("float32")
    os.makedirs(args.cache_dir, exist_ok=True)
    teacher.save(model_path)
    np.save(logits_path, logits)
    seconds = time.perf_counter() - start
    return teacher, logits, accuracy_of(teacher, x_test, y_test), seconds


def _cosine(steps, learning_rate=LEARNING_RATE):
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)


def _dataset(inputs, labels, seed, repeat=False, augment=None):
    import tensorflow as tf

    data = inputs if labels is None else (inputs, labels)
    ds = tf.data.Dataset.from_tensor_slices(data)
    count = len(keras.tree.flatten(inputs)[0])
    ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if augment is not None:
        ds = ds.map(_on_images(augment), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(BATCH_SIZE).prefetch(2)


def _on_images(function):
    def apply(*element):
        return (function(element[0]), *element[1:])

    return apply


def _with_logits(x, logits):
    return {IMAGE: x, TEACHER_LOGITS: logits}


def labeled_split(y, labels_count):
    """The fixed labeled subset of setting c: the same count per class,
    drawn once with seed 0 (the same subset for every seed and method)."""
    rng = np.random.default_rng(0)
    per_class = labels_count // common.NUM_CLASSES
    labeled = np.concatenate([
        rng.choice(np.flatnonzero(y == c), per_class, replace=False)
        for c in range(common.NUM_CLASSES)
    ])
    unlabeled = np.setdiff1d(np.arange(len(y)), labeled)
    return np.sort(labeled), unlabeled


# ----------------------------------------------------------------------
# Methods: each builds a compiled trainer around `student`
# ----------------------------------------------------------------------


def _sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _ours(ctx, student, loss, alpha=0.1, temperature=4.0, learning_rate=LEARNING_RATE):
    features.check_backend()
    distiller = features.OursOnLogits(
        teacher=ctx["teacher"], student=student, distillation_loss_fn=loss,
        student_loss_fn=_sparse_ce(), alpha=alpha, temperature=temperature,
    )
    distiller.compile(optimizer=keras.optimizers.Adam(_cosine(ctx["steps"], learning_rate)))
    return distiller


def _builtin(ctx, student, distillation_loss, student_loss_weight=0.5):
    distiller = features.BuiltinOnLogits(
        teacher=ctx["teacher"], student=student,
        distillation_losses=distillation_loss,
        student_loss_weight=student_loss_weight,
    )
    distiller.compile(optimizer=keras.optimizers.Adam(_cosine(ctx["steps"])),
                      loss=_sparse_ce())
    return distiller


def method_scratch(ctx, student, learning_rate=LEARNING_RATE):
    student.compile(optimizer=keras.optimizers.Adam(_cosine(ctx["steps"], learning_rate)),
                    loss=_sparse_ce())
    return student


def method_builtin_default(ctx, student):
    """keras.distillation as documented: LogitsDistillation() defaults
    (temperature 3, loss "kl_divergence" applied to raw logits / T, no T^2),
    student_loss_weight 0.5."""
    return _builtin(ctx, student, keras.distillation.LogitsDistillation())


def method_builtin_kl(ctx, student):
    """The built-in given a KLDivergence() instance (softmax and T^2), at our
    KL row's temperature and weight (T=4, student loss weight 0.1)."""
    loss = keras.distillation.LogitsDistillation(
        temperature=4.0, loss=keras.losses.KLDivergence())
    return _builtin(ctx, student, loss, student_loss_weight=0.1)


def method_ours_kl(ctx, student):
    return _ours(ctx, student, features.kl_divergence())


def method_ours_dkd(ctx, student):
    if ctx["setting"] == "c":
        raise Unavailable("DKD needs the hard label of every example; setting c "
                          "trains mostly on unlabeled batches.")
    return _ours(ctx, student, features.dkd(), alpha=0.5)


def method_ours_dist(ctx, student):
    return _ours(ctx, student, features.dist(), alpha=0.5, temperature=1.0)


def method_ours_standardized(ctx, student):
    return _ours(ctx, student, features.standardized_kl_divergence(),
                 temperature=2.0)


def method_ours_best(ctx, student):
    """Our recipe: KL on standardized logits plus DIST (at T=1), the
    temperature annealed from 4 to 1 by a cosine schedule, alpha 0.1.
    Chosen on setting (a) with seeds 0 and 1 (see docs/benchmarks.md)."""
    temperature = keras.optimizers.schedules.CosineDecay(
        4.0, decay_steps=ctx["steps"], alpha=0.25)
    terms = [features.standardized_kl_divergence(), features.dist(temperature=1.0)]
    return _ours(ctx, student, terms, alpha=0.1, temperature=temperature)


METHODS = {
    "scratch": method_scratch,
    "builtin_default": method_builtin_default,
    "builtin_kl": method_builtin_kl,
    "ours_kl": method_ours_kl,
    "ours_dkd": method_ours_dkd,
    "ours_dist": method_ours_dist,
    "ours_standardized": method_ours_standardized,
    "ours_best": method_ours_best,
}


# ----------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------


def make_student(setting):
    return common.student_cnn() if setting == "b" else common.student_mlp()


def steps_per_epoch(n):
    return -(-n // BATCH_SIZE)


def train(setting, method, seed, ctx):
    """Trains one student; returns its final test accuracy."""
    keras.utils.set_random_seed(seed)
    ctx["setting"] = setting
    student = make_student(setting)
    build = METHODS[method]
    epochs, x, y = ctx["epochs"], ctx["x"], ctx["y"]
    # Methods whose teacher runs online on augmented images carry
    # `.augment`; the others read the teacher's precomputed logits.
    augment = getattr(build, "augment", None)
    if augment is not None and ctx.get("folds", 1) > 1:
        raise Unavailable("it runs the teacher online; --teacher-folds is for its logits")

    def data(indices, labels, repeat=False):
        if method.startswith("scratch") or augment is not None:
            inputs = x[indices]
        else:
            inputs = _with_logits(x[indices], ctx["logits"][indices])
        return _dataset(inputs, labels, seed, repeat=repeat, augment=augment)

    if setting != "c":
        ctx["steps"] = epochs * steps_per_epoch(len(x))
        model = build(ctx, student)
        model.fit(data(slice(None), y), epochs=epochs, verbose=0)
        return accuracy_of(student, ctx["x_test"], ctx["y_test"])
    labeled, unlabeled = ctx["labeled"], ctx["unlabeled"]
    epoch_steps = steps_per_epoch(len(unlabeled)) + steps_per_epoch(len(labeled))
    ctx["steps"] = epochs * epoch_steps
    model = build(ctx, student)
    if method == "scratch":
        # The labeled examples only, for as many steps as the others take.
        ds = data(labeled, y[labeled], repeat=True)
        model.fit(ds, epochs=epochs, steps_per_epoch=epoch_steps, verbose=0)
        return accuracy_of(student, ctx["x_test"], ctx["y_test"])
    x_only, with_y = data(unlabeled, None), data(labeled, y[labeled])
    for epoch in range(epochs):
        # Each epoch: every unlabeled image once (distillation alone), then
        # every labeled one once (student loss and distillation).
        model.fit(x_only, initial_epoch=epoch, epochs=epoch + 1, verbose=0)
        model.fit(with_y, initial_epoch=epoch, epochs=epoch + 1, verbose=0)
    return accuracy_of(student, ctx["x_test"], ctx["y_test"])


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        return accuracy_table.print_report(args.report, args.methods, SETTINGS)
    x, y, x_test, y_test = load_data(args)
    teacher, logits, teacher_accuracy, teacher_seconds = get_teacher(
        args, x, y, x_test, y_test)
    print(f"teacher {'validation' if args.validation else 'test'} accuracy "
          f"{100 * teacher_accuracy:.2f}%"
          f" ({common.multiply_adds(teacher)} multiply-adds per image)", flush=True)
    if args.teacher_folds > 1:
        from benchmarks import cross_fit  # It imports this module.

        logits = cross_fit.out_of_fold_logits(args, x, y, args.teacher_folds)[0]
    settings = {
        "command": common.command_line(), "machine": common.machine_description(),
        "seeds": args.seeds, "epochs": args.epochs, "batch_size": BATCH_SIZE,
        "optimizer": f"Adam, cosine decay from {LEARNING_RATE} to 0",
        "teacher": {"test_accuracy": teacher_accuracy, "epochs": args.teacher_epochs,
                    "folds": args.teacher_folds,
                    "width": args.teacher_width, "train_seconds": teacher_seconds},
        "train_size": len(x), "test_size": len(x_test), "labels_in_c": args.labels,
        "scored_on": "validation split" if args.validation else "test set",
    }
    report = (common.resumed(args.out, settings, RESUMED_WHEN_EQUAL, {"teacher.folds": 1})
              if args.resume else {})
    report.update(settings)
    results = report.setdefault("results", {})
    labeled, unlabeled = labeled_split(y, args.labels)
    ctx = {"teacher": teacher, "logits": logits, "x": x, "y": y, "x_test": x_test,
           "y_test": y_test, "epochs": args.epochs, "labeled": labeled,
           "unlabeled": unlabeled, "folds": args.teacher_folds}
    for setting in args.settings:
        for method in args.methods:
            entry = results.setdefault(setting, {}).setdefault(method, {})
            accuracies = entry.setdefault("accuracies", {})
            for seed in args.seeds:
                if str(seed) in accuracies:
                    continue
                start = time.perf_counter()
                try:
                    accuracy = train(setting, method, seed, ctx)
                except Unavailable as reason:
                    entry["skipped"] = str(reason)
                    print(f"({setting}) {method}: skipped: {reason}", flush=True)
                    break
                entry.pop("skipped", None)
                accuracies[str(seed)] = accuracy
                entry.setdefault("seconds", {})[str(seed)] = time.perf_counter() - start
                print(f"({setting}) {method} seed {seed}: {100 * accuracy:.2f}% "
                      f"in {time.perf_counter() - start:.0f}s", flush=True)
                common.write_json(args.out, report)
    common.write_json(args.out, report)
    print(accuracy_table.summarize(results, args.settings, args.methods, SETTINGS))
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
