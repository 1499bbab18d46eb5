"""GPU speed on JAX: images/second of a ResNet50 -> MobileNetV2 distillation.

The pair at full size: ResNet50 teacher, MobileNetV2 student,
224x224x3 inputs, 1000 classes, `mixed_bfloat16`, `weights=None` (speed does
not depend on the weights), synthetic data. Rows:

- `ours_online`: `keras_distill.Distiller`, KL term, the teacher runs each step;
- `ours_cached`: the same, trained on cached teacher logits (`teacher=None`,
  the batch carries the logits; needs `keras_distill`'s teacher cache);
- `builtin`: `keras.distillation.Distiller` with `LogitsDistillation`;
- `student_plain`: the student alone, plain `fit` (the floor for cached KD).

Every row keeps its own compiled model; each round runs one epoch of every
row in turn, so a change in load hits all rows alike. The first round is the
warm-up (compilation); a row's speed is examples / median epoch time of the
other rounds.

Runs with `KERAS_BACKEND=jax` on a machine without TensorFlow. Usage:

  KERAS_BACKEND=jax python -m benchmarks.gpu_jax                # GPU: full size
  KERAS_BACKEND=jax python -m benchmarks.gpu_jax --tiny         # CPU smoke test
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_distill as kd  # noqa: E402

TEMPERATURE = 4.0
ALPHA = 0.1

# (name, what it measures) in report order.
ROWS = (
    ("ours_online", "keras_distill.Distiller, KL, teacher online"),
    ("ours_cached", "keras_distill.Distiller, KL, cached teacher logits"),
    ("builtin", "keras.distillation.Distiller, LogitsDistillation"),
    ("student_plain", "student alone, plain fit (no teacher)"),
)


class Unavailable(Exception):
    """A row this installation cannot run (the reason is reported)."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20, help="Steps per epoch.")
    parser.add_argument("--rounds", type=int, default=4,
                        help="Epochs per row; the first is the warm-up.")
    parser.add_argument("--dtype-policy", default="mixed_bfloat16")
    parser.add_argument("--tiny", action="store_true",
                        help="CPU smoke size: small conv nets, 32x32, batch 2, 10 classes, "
                        "1 step, 2 rounds.")
    parser.add_argument("--out", default="benchmarks/results/gpu_jax.json")
    args = parser.parse_args(argv)
    if args.tiny:
        args.batch_size, args.image_size, args.num_classes = 2, 32, 10
        args.steps, args.rounds = 1, 2
    if args.rounds < 2:
        parser.error(f"--rounds: received {args.rounds}; expected >= 2 "
                     "(one warm-up round, then the measured ones).")
    return args


def _small_convnet(name, width, args):
    """A few conv layers: the smoke size, where compiling ResNet50 would be
    most of the run on a CPU."""
    return keras.Sequential([
        keras.Input((args.image_size, args.image_size, 3)),
        keras.layers.Conv2D(width, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(2 * width, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(args.num_classes),
    ], name=name)


def _models(args):
    keras.utils.set_random_seed(0)
    if args.tiny:
        return _small_convnet("teacher", 16, args), _small_convnet("student", 4, args)
    shape = (args.image_size, args.image_size, 3)
    common = dict(weights=None, input_shape=shape, classes=args.num_classes,
                  classifier_activation=None)
    teacher = keras.applications.ResNet50(name="teacher", **common)
    student = keras.applications.MobileNetV2(name="student", **common)
    return teacher, student


def _pair(args):
    return "small conv nets" if args.tiny else "ResNet50 -> MobileNetV2"


def _student_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _cached_inputs(teacher, images, batch_size):
    """The batch layout of `keras_distill`'s teacher cache, built from
    arrays (its `cache_teacher_outputs` builds a `tf.data` pipeline)."""
    try:
        from keras_distill.src.teachers import cached as cache
    except ImportError as error:
        raise Unavailable("this keras_distill has no cached teacher outputs") from error
    logits = teacher.predict(images, batch_size=batch_size, verbose=0)
    return {
        cache.INPUTS: images,
        cache.TEACHER_OUTPUTS: logits,
        cache.FINGERPRINT: np.zeros(len(images), "int64"),
    }


def build_rows(args, images):
    """Returns `{row: (compiled model, x)}`; a row this installation cannot
    run maps to the reason instead."""
    teacher, student = _models(args)
    rows = {}

    def distiller(teacher_model):
        model = kd.Distiller(teacher=teacher_model, student=keras.models.clone_model(student))
        model.compile(optimizer="sgd", student_loss_fn=_student_loss(),
                      temperature=TEMPERATURE, alpha=ALPHA)
        return model

    rows["ours_online"] = (distiller(teacher), images)
    try:
        cached = distiller(None)  # Trains from the batch's teacher logits alone.
        rows["ours_cached"] = (cached, _cached_inputs(teacher, images, args.batch_size))
    except (Unavailable, ValueError) as error:
        rows["ours_cached"] = f"unavailable: {str(error).split('. ')[0]}"
    try:
        from keras import distillation
    except ImportError:
        rows["builtin"] = "unavailable: this Keras has no keras.distillation"
    else:
        builtin = distillation.Distiller(
            teacher=teacher,
            student=keras.models.clone_model(student),
            distillation_losses=distillation.LogitsDistillation(temperature=TEMPERATURE),
            student_loss_weight=ALPHA,
        )
        builtin.compile(optimizer="sgd", loss=_student_loss())
        rows["builtin"] = (builtin, images)
    plain = keras.models.clone_model(student)
    plain.compile(optimizer="sgd", loss=_student_loss())
    rows["student_plain"] = (plain, images)
    return rows


def run(args):
    keras.mixed_precision.set_dtype_policy(args.dtype_policy)
    examples = args.batch_size * args.steps
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (examples, args.image_size, args.image_size, 3)).astype("float32")
    labels = rng.integers(0, args.num_classes, examples)
    rows = build_rows(args, images)
    seconds = {name: [] for name, row in rows.items() if not isinstance(row, str)}
    for _ in range(args.rounds):
        for name in seconds:
            model, x = rows[name]
            start = time.perf_counter()
            model.fit(x, labels, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
            seconds[name].append(time.perf_counter() - start)
    results = {}
    for name, description in ROWS:
        if isinstance(rows[name], str):
            results[name] = {"description": description, "skipped": rows[name]}
            continue
        median = statistics.median(seconds[name][1:])
        results[name] = {
            "description": description,
            "images_per_second": examples / median,
            "epoch_seconds": seconds[name],
        }
    return results


def environment(args):
    import jax

    device = jax.devices()[0]
    return {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "jax": jax.__version__,
        "device": f"{device.platform}: {device.device_kind}",
        "tensorflow_imported": sys.modules.get("tensorflow") is not None,
        "models": _pair(args),
        **{key: getattr(args, key) for key in
           ("batch_size", "image_size", "num_classes", "steps", "rounds", "dtype_policy")},
    }


def report(results, env):
    lines = [
        f"{env['models']}, {env['image_size']}x{env['image_size']}, "
        f"batch {env['batch_size']}, {env['dtype_policy']}, {env['device']}",
        "",
        "| row | what | images/s |",
        "| --- | --- | ---: |",
    ]
    for name, result in results.items():
        speed = result.get("images_per_second")
        value = f"{speed:,.0f}" if speed is not None else result["skipped"]
        lines.append(f"| {name} | {result['description']} | {value} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if keras.backend.backend() != "jax":
        raise SystemExit(
            f"benchmarks.gpu_jax measures the JAX backend; Keras runs "
            f"'{keras.backend.backend()}'. Run it as `KERAS_BACKEND=jax python -m "
            "benchmarks.gpu_jax`."
        )
    results = run(args)
    env = environment(args)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as file:
            json.dump({"environment": env, "results": results}, file, indent=2)
    print(report(results, env))
    return results


if __name__ == "__main__":
    main()
