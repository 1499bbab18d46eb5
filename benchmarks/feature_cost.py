"""Per-step cost of one feature term over logit-only KD, vs keras.distillation.

Four distillers train the same student from the same teacher on the same
batch, in one process, one step each in turn (round robin, so load changes
on the machine hit every row alike):

- keras-distill, logit KD only (`KLDivergence`);
- keras-distill, logit KD + one `Hint` term on a middle layer;
- `keras.distillation`, `LogitsDistillation` only;
- `keras.distillation`, `LogitsDistillation` + one `FeatureDistillation`
  (MSE) on the same pair of layers.

The two layers have equal shapes, so neither library needs an adapter and
the feature math is the same MSE: the difference is how features are read.
keras-distill taps them in the student's one forward pass; keras.distillation
runs the student a second time (in training mode) through its feature
extractor. A step is one `train_on_batch` call (it returns numpy, so it is
synchronous); the reported time is the median over the measured steps after
warm-up.

Usage:

    python benchmarks/feature_cost.py --steps 40 --warmup 5 \
        --write docs/benchmarks.md
"""

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

import keras_distill as kd  # noqa: E402

SECTION = "## Feature distillation cost"
ROWS = (
    ("keras-distill", "logit KD", "ours_logit"),
    ("keras-distill", "logit KD + Hint", "ours_feature"),
    ("keras-distill", "logit KD + Hint with adapter (conv3, 64 -> 128)", "ours_adapter"),
    ("keras.distillation", "LogitsDistillation", "keras_logit"),
    ("keras.distillation", "Logits + FeatureDistillation", "keras_feature"),
)


def conv_net(widths, name):
    """Conv stack conv1..convN on 32x32x3, then global pooling and logits."""
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for index, width in enumerate(widths):
        x = layers.Conv2D(
            width, 3, padding="same", activation="relu", name=f"conv{index + 1}"
        )(x)
        if index % 2 == 1:
            x = layers.MaxPooling2D(name=f"pool{index + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(10, name="logits")(x), name=name)


def make_models(seed):
    keras.utils.set_random_seed(seed)
    teacher = conv_net([64, 64, 128, 128], "teacher")
    student = conv_net([32, 64, 64], "student")
    return teacher, student


# Both conv2 layers output (32, 32, 64): a like-for-like MSE with no adapter
# (checked at start-up). The adapter row taps the conv3 layers instead:
# teacher (16, 16, 128), student (16, 16, 64), bridged by a 1x1 conv.
TAP = {"teacher": "conv2", "student": "conv2"}
ADAPTER_TAP = {"teacher": "conv3", "student": "conv3"}


def ours(teacher, student, with_feature, tap=TAP, adapter=None):
    terms = [kd.losses.KLDivergence()]
    if with_feature:
        terms.append(
            kd.losses.Hint(
                teacher_layer=tap["teacher"],
                student_layer=tap["student"],
                adapter=adapter,
            )
        )
    distiller = kd.Distiller(
        teacher=teacher,
        student=student,
        distillation_loss_fn=terms,
        alpha=0.5,
        temperature=3.0,
    )
    distiller.compile(
        optimizer="sgd",
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True
        ),
    )
    return distiller


def theirs(teacher, student, with_feature):
    from keras import distillation

    losses = [distillation.LogitsDistillation(temperature=3.0)]
    if with_feature:
        losses.append(
            distillation.FeatureDistillation(
                loss="mse",
                teacher_layer_name=TAP["teacher"],
                student_layer_name=TAP["student"],
            )
        )
    distiller = distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=losses,
        student_loss_weight=0.5,
    )
    distiller.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return distiller


def build_distillers(seed):
    builders = {
        "ours_logit": lambda t, s: ours(t, s, False),
        "ours_feature": lambda t, s: ours(t, s, True),
        "ours_adapter": lambda t, s: ours(t, s, True, ADAPTER_TAP, "auto"),
        "keras_logit": lambda t, s: theirs(t, s, False),
        "keras_feature": lambda t, s: theirs(t, s, True),
    }
    distillers = {}
    for key, build in builders.items():
        teacher, student = make_models(seed)  # same weights in every row
        distillers[key] = build(teacher, student)
    teacher, student = make_models(seed)
    t_shape = teacher.get_layer(TAP["teacher"]).output.shape
    s_shape = student.get_layer(TAP["student"]).output.shape
    if tuple(t_shape) != tuple(s_shape):
        raise SystemExit(
            f"Tapped layers must have equal shapes for a like-for-like MSE; "
            f"got teacher {tuple(t_shape)} and student {tuple(s_shape)}."
        )
    return distillers, tuple(t_shape)


def measure(distillers, x, y, steps, warmup):
    """Median wall time and median process CPU time (all threads) per step."""
    wall = {key: [] for key in distillers}
    cpu = {key: [] for key in distillers}
    for step in range(warmup + steps):
        for key, distiller in distillers.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            distiller.train_on_batch(x, y)
            if step >= warmup:
                wall[key].append(time.perf_counter() - start)
                cpu[key].append(time.process_time() - start_cpu)
    return (
        {key: statistics.median(values) for key, values in wall.items()},
        {key: statistics.median(values) for key, values in cpu.items()},
    )


def report(wall, cpu, args, shape, command, load):
    ours_ratio = cpu["ours_feature"] / cpu["ours_logit"]
    keras_ratio = cpu["keras_feature"] / cpu["keras_logit"]
    lines = [
        SECTION,
        "",
        "Per-step time of one feature term (MSE between a teacher and a "
        f"student layer of shape {shape}) over logit-only KD, each library "
        "against its own logit-only baseline, same models, same batch, one "
        "process, steps interleaved. Median over "
        f"{args.steps} steps after {args.warmup} warm-up steps; batch "
        f"{args.batch_size} of 32x32x3 images.",
        "",
        "| library | distillation | CPU ms / step | vs its logit-only | "
        "wall ms / step | vs its logit-only |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for library, label, key in ROWS:
        base = "ours_logit" if key.startswith("ours") else "keras_logit"
        lines.append(
            f"| {library} | {label} | {1000 * cpu[key]:.1f} | "
            f"{cpu[key] / cpu[base]:.2f}x | {1000 * wall[key]:.1f} | "
            f"{wall[key] / wall[base]:.2f}x |"
        )
    lines += [
        "",
        "CPU time is the process's CPU time over all threads during the step "
        "(the work done; robust to other jobs on the machine); wall time is "
        "what a user waits.",
        "",
        f"By CPU time, a feature term costs keras-distill "
        f"{100 * (ours_ratio - 1):+.0f}% per step and keras.distillation "
        f"{100 * (keras_ratio - 1):+.0f}%: "
        "keras.distillation runs the student a second time to read the "
        "feature; keras-distill reads it from the student's one pass.",
        "",
        f"Machine: {platform.platform()}, Python "
        f"{platform.python_version()}, Keras {keras.__version__}, backend "
        f"{keras.backend.backend()}, {os.cpu_count()} CPUs visible "
        f"(shared with other jobs; 1-minute load average {load[0]:.1f} before "
        f"and {load[1]:.1f} after the run: compare the CPU-time ratios; wall "
        "times wander with the load). "
        "The adapter row taps the conv3 layers instead (teacher 16x16x128, "
        "student 16x16x64, a 1x1 conv adapter); keras.distillation has no "
        "adapter, so it has no such row.",
        "",
        "Command:",
        "",
        "```bash",
        command,
        "```",
        "",
    ]
    return "\n".join(lines)


def write_section(path, text):
    """Replaces (or appends) this script's section of `path`."""
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if SECTION in old:
        start = old.index(SECTION)
        end = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + (old[end + 1 :] if end != -1 else "")
    else:
        prefix = old if old.endswith("\n") or not old else old + "\n"
        if not old:
            prefix = "# Benchmarks\n\n"
        new = prefix + ("\n" if old else "") + text
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(new)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--write", default=None, help="Markdown file whose section to update."
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 2:
        parser.error("Expected --steps >= 1, --warmup >= 0, --batch-size >= 2.")
    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(args.batch_size, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(args.batch_size,))
    distillers, shape = build_distillers(args.seed)
    load_before = os.getloadavg()[0]
    wall, cpu = measure(distillers, x, y, args.steps, args.warmup)
    load = (load_before, os.getloadavg()[0])
    command = "python benchmarks/feature_cost.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    text = report(wall, cpu, args, shape, command.strip(), load)
    print(text)
    if args.write:
        write_section(args.write, text)


if __name__ == "__main__":
    main()
