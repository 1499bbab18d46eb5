"""Token-level KD: peak memory and tokens/s of one training step.

Each row runs in a process of its own (`--row NAME`, started by the parent):
LM-head-dominated toy models (token embedding, one hidden Dense, a Dense
head over the vocabulary) of a teacher and a smaller student; batch 4,
sequence 256. After a warm-up `fit` (which traces the step), three times:
the process's peak RSS is reset (`/proc/self/clear_refs`) and one step runs;
the median peak growth over the RSS before the step is kept, in units of
one float32 logits tensor (batch x sequence x vocabulary x 4 bytes). Then
tokens/s over a few more steps. Each row runs in `--repeats` processes (3):
the peak growth varies from process to process (TensorFlow's executor runs
independent chunks in whatever order its threads reach them), so the table
gives the median over the processes and the JSON every process's value. Tokens
per CPU-second (all threads' CPU time of the timed steps) is given beside
tokens/s: on a throttled host it still compares the work of the rows.

    python -m benchmarks.token_kd                  # vocab 32k and 128k, every row
    python -m benchmarks.token_kd --vocab 32000 --steps 3
    python -m benchmarks.token_kd --tiny           # CI smoke size

Rows: `student_alone` (the student's `fit`, hard labels only),
`ours` (keras_distill.Distiller, `KLDivergence`: the teacher's logits
deferred, the student's head fused with its losses, `distiller/fused_head.py`),
`ours_student_logits` (the same, but the student loss given as a function,
which keeps the student's logits whole: the chunked KL alone),
`ours_unchunked` (`KLDivergence(chunk_size=None)`), `ours_cached_top_k` (the
teacher's top 64 logits per token cached beforehand with
`cache_teacher_outputs`, then a Distiller with `teacher=None`; the cache is
built before the measurement), `builtin` (keras.distillation with
`LogitsDistillation`).
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROWS = ("student_alone", "ours", "ours_student_logits", "ours_unchunked", "ours_cached_top_k",
        "builtin")
TOP_K = 64
BATCH, SEQUENCE = 4, 256
TEMPERATURE, ALPHA = 2.0, 0.5
# Steps whose peak growth is measured (each after a reset); the median is kept.
MEASURED_STEPS = 3


def _rss_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _models(vocab, hidden_teacher, hidden_student):
    import keras

    def lm(hidden, name, seed):
        keras.utils.set_random_seed(seed)
        tokens = keras.Input((SEQUENCE,), dtype="int32")
        x = keras.layers.Embedding(vocab, hidden)(tokens)
        x = keras.layers.Dense(hidden, activation="gelu")(x)
        return keras.Model(tokens, keras.layers.Dense(vocab)(x), name=name)

    return lm(hidden_teacher, "teacher", 1), lm(hidden_student, "student", 2)


def _trainer(row, teacher, student):
    import keras

    import keras_distill as kd

    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if row == "student_alone":
        student.compile(optimizer="adam", loss=ce)
        return student
    if row == "builtin":
        model = keras.distillation.Distiller(
            teacher=teacher,
            student=student,
            distillation_losses=keras.distillation.LogitsDistillation(
                temperature=TEMPERATURE, loss=keras.losses.KLDivergence()
            ),
            student_loss_weight=ALPHA,
        )
        model.compile(optimizer="adam", loss=ce)
        return model
    term = kd.losses.KLDivergence(chunk_size=None if row == "ours_unchunked" else "auto")
    if row == "ours_student_logits":
        def student_loss(y_true, y_pred):  # The same loss, but not fused.
            return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
    else:
        student_loss = ce
    model = kd.Distiller(
        teacher=None if row == "ours_cached_top_k" else teacher,
        student=student, distillation_loss_fn=term,
        student_loss_fn=student_loss, alpha=ALPHA, temperature=TEMPERATURE,
    )
    model.compile(optimizer="adam")
    return model


def run_row(row, vocab, steps, hidden_teacher, hidden_student):
    """Measures one row in this process; returns its result dict."""
    import numpy as np

    teacher, student = _models(vocab, hidden_teacher, hidden_student)
    model = _trainer(row, teacher, student)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, vocab, size=(BATCH * max(steps, 1), SEQUENCE)).astype("int32")
    labels = np.roll(tokens, -1, axis=1)
    if row == "ours_cached_top_k":
        import keras_distill as kd

        cached = kd.cache_teacher_outputs(
            teacher, (tokens, labels), top_k=TOP_K, batch_size=BATCH, verbose=0
        ).cache()
        one_step, every_step = (cached.take(1),), (cached,)
    else:
        one_step = (tokens[:BATCH], labels[:BATCH])
        every_step = (tokens, labels)
    batch_size = None if row == "ours_cached_top_k" else BATCH
    model.fit(*one_step, batch_size=batch_size, verbose=0)  # Traces.
    growths = []
    for _ in range(MEASURED_STEPS):
        before = _rss_kib("VmRSS")
        _reset_peak()
        model.fit(*one_step, batch_size=batch_size, verbose=0)
        growths.append((_rss_kib("VmHWM") - before) * 1024)
    growth = float(np.median(growths))
    logits_bytes = BATCH * SEQUENCE * vocab * 4
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit(*every_step, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    return {
        "row": row,
        "vocab": vocab,
        "peak_growth_logits": growth / logits_bytes,
        "peak_growth_mib": growth / 2**20,
        "tokens_per_second": BATCH * SEQUENCE * max(steps, 1) / seconds,
        "tokens_per_cpu_second": BATCH * SEQUENCE * max(steps, 1) / cpu_seconds,
    }


def _median_run(runs):
    """One row's result: the median over its processes, with every value."""
    import statistics

    result = dict(runs[0])
    for key in ("peak_growth_logits", "peak_growth_mib", "tokens_per_second",
                "tokens_per_cpu_second"):
        result[key] = statistics.median(run[key] for run in runs)
        result[f"{key}_runs"] = [run[key] for run in runs]
    return result


def _table(results):
    lines = [
        "| vocab | row | peak growth / float32 logits | vs keras.distillation | tokens/s |"
        " tokens/CPU-s |",
        "|---|---|---|---|---|---|",
    ]
    for vocab in sorted({r["vocab"] for r in results}):
        rows = {r["row"]: r for r in results if r["vocab"] == vocab}
        builtin = rows.get("builtin", {}).get("peak_growth_logits")
        for name in ROWS:
            if name not in rows:
                continue
            r = rows[name]
            ratio = f"{r['peak_growth_logits'] / builtin:.2f}x" if builtin else "-"
            lines.append(
                f"| {vocab} | {name} | {r['peak_growth_logits']:.2f} | {ratio} | "
                f"{r['tokens_per_second']:.0f} | {r['tokens_per_cpu_second']:.0f} |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, nargs="*", default=[32000, 128000])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=ROWS)
    parser.add_argument("--tiny", action="store_true", help="CI smoke size")
    parser.add_argument("--row", choices=ROWS, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3,
                        help="processes per row; the table gives the median")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    hidden = (32, 8) if args.tiny else (256, 64)
    if args.tiny:
        args.vocab, args.steps = [512], 1
    if args.row:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        result = run_row(args.row, args.vocab[0], args.steps, *hidden)
        print(json.dumps(result))
        return result
    results = []
    for vocab in args.vocab:
        for row in args.rows:
            command = [sys.executable, "-m", "benchmarks.token_kd", "--row", row,
                       "--vocab", str(vocab), "--steps", str(args.steps)]
            if args.tiny:
                command.append("--tiny")
            runs = []
            for _ in range(max(args.repeats, 1)):
                output = subprocess.run(
                    command, check=True, capture_output=True, text=True
                ).stdout
                runs.append(json.loads(output.strip().splitlines()[-1]))
            results.append(_median_run(runs))
    print(_table(results))
    if args.output:
        with open(args.output, "w") as file:
            json.dump(results, file, indent=1)
    return results


if __name__ == "__main__":
    main()
