"""Speed: keras-distill vs keras.distillation, per-epoch wall time on one machine.

One process, one synthetic Fashion-MNIST-sized dataset (28x28x1, values do
not change the cost), one CNN teacher (benchmarks/common.py::teacher_cnn) and
one MLP student 784-256-10 whose hidden layer matches the teacher's `dense1`
(so the built-in's FeatureDistillation, which has no adapter, can compare the
two). Every row keeps its own compiled model and runs one epoch per round;
the rounds interleave the rows, so a change in machine load hits all rows
alike. The first round is the warm-up (tracing); each row's time is the
median of the other rounds, shown with their minimum (the least-disturbed
round, as `timeit` reports) and the median CPU time of the process (the work
done, all threads), since other jobs on a shared machine move wall times.
A target's status is "met" when all three ratios meet it.

Usage:
  python -m benchmarks.speed                 # the full run: 20,000 examples, 8 rounds
  python -m benchmarks.speed --quick         # < 5 minutes: 6,000 examples, 3 rounds
  python -m benchmarks.speed --quick --tiny  # < 1 minute, for CI
"""

import argparse
import statistics
import time

from benchmarks import common

common.configure_environment()

import keras  # noqa: E402

import keras_distill as kd  # noqa: E402
from benchmarks import features  # noqa: E402
from benchmarks.features import Unavailable  # noqa: E402

BATCH_SIZE = 128
TEMPERATURE = 4.0
ALPHA = 0.1
TEACHER_FEATURE, STUDENT_FEATURE = "dense1", "hidden"

# (name, what it measures) in report order.
ROWS = (
    ("teacher_forward", "teacher forward alone (compiled loop, no training)"),
    ("student_plain", "student alone, plain fit (no teacher)"),
    ("ours_online", "keras_distill.Distiller, KL, teacher online"),
    ("ours_cached", "keras_distill.Distiller, KL, cached teacher outputs"),
    ("builtin_logits", "keras.distillation.Distiller, LogitsDistillation(KL)"),
    ("ours_feature", "keras_distill: KL + one feature term (Hint)"),
    ("builtin_feature", "keras.distillation: Logits + one FeatureDistillation"),
    ("ours_evaluate", "keras_distill.Distiller.evaluate"),
    ("builtin_evaluate", "keras.distillation.Distiller.evaluate"),
)
# (description, numerator row, denominator row, the ratio must be <= this)
TARGETS = (
    ("online KD <= 1.0x the built-in", "ours_online", "builtin_logits", 1.0),
    ("evaluate >= 5x faster than the built-in", "ours_evaluate", "builtin_evaluate", 0.2),
    ("feature KD faster than the built-in", "ours_feature", "builtin_feature", 1.0),
    ("cached KD <= 1.2x plain student", "ours_cached", "student_plain", 1.2),
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="6,000 examples per epoch, 3 rounds (< 5 min).")
    parser.add_argument("--tiny", action="store_true",
                        help="With --quick: CI smoke size (< 1 min).")
    parser.add_argument("--examples", type=int, default=20000,
                        help="Training examples per epoch.")
    parser.add_argument("--rounds", type=int, default=None,
                        help="Epochs per row; the first is the warm-up (default "
                        "10; 3 with --quick, 2 with --tiny).")
    parser.add_argument("--teacher-width", type=int, default=32)
    parser.add_argument("--out", default="benchmarks/results/speed.json")
    args = parser.parse_args(argv)
    rounds = 10
    if args.quick:
        args.examples, rounds = 6000, 3
    if args.tiny:
        args.examples, rounds, args.teacher_width = 512, 2, 8
    args.rounds = rounds if args.rounds is None else args.rounds
    if args.rounds < 2:
        parser.error(f"--rounds: received {args.rounds}; expected >= 2 "
                     "(one warm-up round, then the measured ones).")
    return args


# ----------------------------------------------------------------------
# Rows: each returns `run()`, which does one epoch's work
# ----------------------------------------------------------------------


def _sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _builtin_logits_term():
    return keras.distillation.LogitsDistillation(
        temperature=TEMPERATURE, loss=keras.losses.KLDivergence())


def _ours(teacher, student, terms):
    features.check_backend()
    distiller = kd.Distiller(
        teacher=teacher, student=student, distillation_loss_fn=terms,
        student_loss_fn=_sparse_ce(), alpha=ALPHA, temperature=TEMPERATURE)
    distiller.compile(optimizer="adam")
    return distiller


def _builtin(teacher, student, terms):
    distiller = keras.distillation.Distiller(
        teacher=teacher, student=student, distillation_losses=terms,
        student_loss_weight=ALPHA)
    distiller.compile(optimizer="adam", loss=_sparse_ce())
    return distiller


def _forward_loop(model, dataset):
    """One pass of `model(x, training=False)` over the dataset, compiled,
    without `predict`'s per-batch copies to numpy (TensorFlow; other
    backends fall back to `predict`)."""
    if keras.backend.backend() != "tensorflow":
        return lambda: model.predict(dataset, verbose=0)
    import tensorflow as tf

    @tf.function
    def run():
        total = tf.zeros(())
        for x, _ in dataset:
            total += tf.reduce_sum(model(x, training=False))
        return total

    return lambda: run().numpy()


def _fit_one_epoch(model, dataset):
    return lambda: model.fit(dataset, epochs=1, verbose=0)


def make_rows(teacher, ds, test_ds, one_off):
    """name -> a zero-argument callable that runs one epoch (or raises
    Unavailable). Each row trains its own student from the same initial
    weights. One-off costs (building the cache) go into `one_off`."""
    student_weights = common.student_mlp(hidden=256).get_weights()

    def student():
        model = common.student_mlp(hidden=256)
        model.set_weights(student_weights)
        return model

    def teacher_forward():
        return _forward_loop(teacher, ds)

    def student_plain():
        model = student()
        model.compile(optimizer="adam", loss=_sparse_ce())
        return _fit_one_epoch(model, ds)

    def ours_online():
        return _fit_one_epoch(_ours(teacher, student(), kd.losses.KLDivergence()), ds)

    def ours_cached():
        distiller = _ours(teacher, student(), kd.losses.KLDivergence())
        start = time.perf_counter()
        cached = features.cache_teacher_outputs(teacher, ds)
        one_off["cache_build_seconds"] = time.perf_counter() - start
        return _fit_one_epoch(distiller, cached)

    def builtin_logits():
        return _fit_one_epoch(_builtin(teacher, student(), _builtin_logits_term()), ds)

    def ours_feature():
        terms = [kd.losses.KLDivergence(),
                 features.hint(TEACHER_FEATURE, STUDENT_FEATURE)]
        return _fit_one_epoch(_ours(teacher, student(), terms), ds)

    def builtin_feature():
        terms = [_builtin_logits_term(), keras.distillation.FeatureDistillation(
            loss="mse", teacher_layer_name=TEACHER_FEATURE,
            student_layer_name=STUDENT_FEATURE)]
        return _fit_one_epoch(_builtin(teacher, student(), terms), ds)

    def ours_evaluate():
        distiller = _ours(teacher, student(), kd.losses.KLDivergence())
        return lambda: distiller.evaluate(test_ds, verbose=0)

    def builtin_evaluate():
        distiller = _builtin(teacher, student(), _builtin_logits_term())
        return lambda: distiller.evaluate(test_ds, verbose=0)

    rows = dict(ROWS)
    return {name: factory for name, factory in locals().items() if name in rows}


def measure(rows, rounds):
    """Runs every row once per round, interleaved. Returns
    {name: [wall seconds per round]}, {name: [CPU seconds per round]} (the
    process's CPU time, all threads: the work done, which other jobs on the
    machine disturb less than the wall time) and {name: reason} for skipped
    rows."""
    runners, skipped = {}, {}
    for name, _ in ROWS:
        try:
            runners[name] = rows[name]()
        except Unavailable as reason:
            skipped[name] = str(reason)
    wall = {name: [] for name in runners}
    cpu = {name: [] for name in runners}
    for round_index in range(rounds):
        for name, run in runners.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
        print(f"round {round_index + 1}/{rounds}: " + ", ".join(
            f"{name} {values[-1]:.2f}s" for name, values in wall.items()), flush=True)
    return wall, cpu, skipped


# Statistics over the measured rounds (the first round is the warm-up).
STATISTICS = {
    "median wall": lambda values: statistics.median(values[1:]),
    "min wall": lambda values: min(values[1:]),
    "median CPU": lambda values: statistics.median(values[1:]),
}


def summarize(wall, cpu):
    """{statistic: {row: seconds}} for the statistics above."""
    series = {"median wall": wall, "min wall": wall, "median CPU": cpu}
    return {stat: {name: STATISTICS[stat](values) for name, values in series[stat].items()}
            for stat in STATISTICS}


def _shown(ratio, limit):
    if limit >= 1:
        return f"{ratio:.2f}x"
    return f"{1 / ratio:.1f}x faster" if ratio <= 1 else f"{ratio:.1f}x slower"


def report_rows(stats, skipped):
    """Markdown rows of the timing table and of the targets table."""
    base = {stat: values.get("student_plain") for stat, values in stats.items()}
    rows = []
    for name, description in ROWS:
        if name not in stats["median wall"]:
            rows.append([name, description, "skipped", "", "", skipped.get(name, "")])
            continue
        cells = [f"{stats[stat][name]:.3f}" for stat in STATISTICS]
        ratio = stats["median wall"][name] / base["median wall"] if base["median wall"] else 0
        rows.append([name, description, *cells, f"{ratio:.2f}x" if ratio else "-"])
    targets = []
    for description, numerator, denominator, limit in TARGETS:
        if numerator not in stats["median wall"] or denominator not in stats["median wall"]:
            targets.append([description] + ["-"] * len(STATISTICS) + ["row skipped"])
            continue
        cells, met = [], []
        for stat in STATISTICS:
            ratio = stats[stat][numerator] / stats[stat][denominator]
            met.append(ratio <= limit)
            cells.append(f"{_shown(ratio, limit)} ({'met' if ratio <= limit else 'NOT met'})")
        status = "met" if all(met) else "NOT met" if not any(met) else "mixed"
        targets.append([description, *cells, status])
    return rows, targets


def main(argv=None):
    args = parse_args(argv)
    import tensorflow as tf

    x, y = common.synthetic_data(args.examples, seed=0)
    x_test, y_test = common.synthetic_data(max(args.examples // 6, BATCH_SIZE), seed=1)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH_SIZE).cache().prefetch(2)
    test_ds = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(BATCH_SIZE).cache()
    keras.utils.set_random_seed(0)
    teacher = common.teacher_cnn(width=args.teacher_width)
    student_flops = common.multiply_adds(common.student_mlp(hidden=256))
    teacher_flops = common.multiply_adds(teacher)
    print(f"teacher {teacher_flops:,} multiply-adds per image, student "
          f"{student_flops:,} ({teacher_flops / student_flops:.0f}x)", flush=True)
    one_off = {}
    wall, cpu, skipped = measure(make_rows(teacher, ds, test_ds, one_off), args.rounds)
    stats = summarize(wall, cpu)
    rows, targets = report_rows(stats, skipped)
    print(common.markdown_table(
        ["row", "what", *(f"{stat} s/epoch" for stat in STATISTICS),
         "median wall vs plain student"], rows))
    print()
    print(common.markdown_table(["target (CPU)", *STATISTICS, "status"], targets))
    common.write_json(args.out, {
        "command": common.command_line(), "machine": common.machine_description(),
        "examples_per_epoch": args.examples, "test_examples": len(x_test),
        "batch_size": BATCH_SIZE, "rounds": args.rounds,
        "teacher_multiply_adds": teacher_flops, "student_multiply_adds": student_flops,
        "wall_seconds_per_round": wall, "cpu_seconds_per_round": cpu,
        "one_off_seconds": one_off, "statistics": stats, "skipped": skipped,
        "targets": {row[0]: dict(zip([*STATISTICS, "status"], row[1:])) for row in targets},
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
