"""What the teacher costs: epoch time of online KD, cached KD, plain training.

Measures, in one process on CPU, with a teacher of at least 20x the student's
FLOPs:

- plain student training (`student.fit`, hard labels only);
- online KD with `keras_distill.Distiller` (teacher runs every step);
- cached KD: `keras_distill.cache_teacher_outputs` once, then
  `Distiller(teacher=None)` on the cache (dense, and top-k);
- online KD with Keras's own `keras.distillation.Distiller`.

Every trainer first runs one warm-up epoch (which traces its step function),
then the trainers take turns, one epoch each, for `--rounds` rounds, so that
load from other processes on the machine hits all of them alike; the table
reports each trainer's median epoch. The one-off caching pass is reported
separately. Results are printed as Markdown for docs/benchmarks.md.

Run:

    python benchmarks/teacher_cost.py            # full size
    python benchmarks/teacher_cost.py --small    # seconds, for CI smoke runs
"""

import argparse
import os
import platform
import time
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")  # CPU only, by design.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_distill as kd  # noqa: E402

NUM_CLASSES = 10
warnings.filterwarnings("ignore", message="`shuffle=True` was passed")


def mlp(features, hidden, name, seed):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((features,))]
    layers += [keras.layers.Dense(units, activation="relu") for units in hidden]
    layers.append(keras.layers.Dense(NUM_CLASSES))
    return keras.Sequential(layers, name=name)


def dense_flops(model):
    """Forward FLOPs per example (2 per multiply-add) of a Dense-only MLP."""
    return sum(
        2 * layer.kernel.shape[0] * layer.kernel.shape[1]
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
    )


def epoch_seconds(model, data):
    """(wall, process CPU) seconds of one `fit` epoch.

    The step function is traced once and reused across `fit` calls. CPU time
    (all threads of this process) is less sensitive than wall time to other
    processes competing for the cores.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(data, epochs=1, verbose=0)
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved_epochs(trainers, rounds):
    """{name: (median wall s, median CPU s, warm-up wall s)} per trainer."""
    first = {name: epoch_seconds(*trainer)[0] for name, trainer in trainers.items()}
    times = {name: [] for name in trainers}
    for _ in range(rounds):
        for name, trainer in trainers.items():
            times[name].append(epoch_seconds(*trainer))
    return {
        name: (*np.median(np.array(times[name]), axis=0).tolist(), first[name])
        for name in trainers
    }


def sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def run(args):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(NUM_CLASSES, args.features)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=args.examples).astype("int32")
    x = (centers[y] + rng.normal(size=(args.examples, args.features))).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size).cache()
    data = data.prefetch(tf.data.AUTOTUNE)

    teacher = mlp(args.features, [args.teacher_width] * 2, "teacher", seed=1)
    teacher.compile(optimizer="adam", loss=sparse_ce())
    teacher.fit(data, epochs=1, verbose=0)  # A trained teacher, quickly.

    def student():
        return mlp(args.features, [args.student_width], "student", seed=2)

    ratio = dense_flops(teacher) / dense_flops(student())
    trainers = {}

    plain = student()
    plain.compile(optimizer="adam", loss=sparse_ce())
    trainers["plain student training"] = (plain, data)

    def ours(teacher_model):
        distiller = kd.Distiller(teacher=teacher_model, student=student())
        distiller.compile(optimizer="adam", student_loss_fn=sparse_ce(), alpha=0.1,
                          temperature=4.0)
        return distiller

    trainers["online KD (keras_distill)"] = (ours(teacher), data)

    start = time.perf_counter()
    cached = kd.cache_teacher_outputs(teacher, data, verbose=0)
    cache_seconds = time.perf_counter() - start
    trainers["cached KD (keras_distill, dense)"] = (
        ours(None), cached.prefetch(tf.data.AUTOTUNE))

    start = time.perf_counter()
    cached_top_k = kd.cache_teacher_outputs(teacher, data, top_k=args.top_k, verbose=0)
    top_k_seconds = time.perf_counter() - start
    trainers[f"cached KD (keras_distill, top-{args.top_k})"] = (
        ours(None), cached_top_k.prefetch(tf.data.AUTOTUNE))

    builtin = keras.distillation.Distiller(
        teacher=teacher,
        student=student(),
        distillation_losses=keras.distillation.LogitsDistillation(temperature=4.0),
        student_loss_weight=0.1,
    )
    builtin.compile(optimizer="adam", loss=sparse_ce())
    trainers["online KD (keras.distillation)"] = (builtin, data)
    load_before = os.getloadavg()[0]
    results = interleaved_epochs(trainers, args.rounds)
    load_after = os.getloadavg()[0]

    base_wall, base_cpu = results["plain student training"][:2]
    print(f"Command: python benchmarks/teacher_cost.py {' '.join(args.argv)}".rstrip())
    print(
        f"CPU: {os.cpu_count()} cores visible, {platform.processor() or platform.machine()}; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}; 1-minute load average "
        f"{load_before:.1f} before, {load_after:.1f} after"
    )
    print(
        f"{args.examples} examples x {args.features} features, batch {args.batch_size} "
        f"({int(np.ceil(args.examples / args.batch_size))} steps/epoch), 1 warm-up + "
        f"{args.rounds} interleaved epochs each; "
        f"teacher {dense_flops(teacher):,} FLOPs/example, student "
        f"{dense_flops(student()):,} FLOPs/example (teacher/student = {ratio:.0f}x)"
    )
    print(f"One-off caching pass: dense {cache_seconds:.2f} s, top-{args.top_k} "
          f"{top_k_seconds:.2f} s; storage per example: dense "
          f"{kd.teachers.bytes_per_position(NUM_CLASSES)} B, top-{args.top_k} "
          f"{kd.teachers.bytes_per_position(NUM_CLASSES, k=args.top_k)} B (+8 B fingerprint)")
    print()
    print("| Training | epoch wall (s) | vs plain | epoch CPU (s) | vs plain | warm-up epoch (s) |")
    print("|---|---|---|---|---|---|")
    for name, (wall, cpu, first) in results.items():
        print(f"| {name} | {wall:.3f} | {wall / base_wall:.2f}x | {cpu:.3f} | "
              f"{cpu / base_cpu:.2f}x | {first:.3f} |")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--examples", type=int, default=32768)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--teacher-width", type=int, default=1024)
    parser.add_argument("--student-width", type=int, default=64)
    parser.add_argument("--top-k", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=9)
    import sys

    args = parser.parse_args()
    args.argv = sys.argv[1:]
    if args.small:
        args.examples, args.rounds, args.teacher_width = 2048, 2, 256
    run(args)


if __name__ == "__main__":
    main()
