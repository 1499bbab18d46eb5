"""The cost per step of off-policy, sequence-level and on-policy distillation.

The models and batch of the language-model example
(`examples/distill_a_language_model.py`: Llama-style KerasHub `CausalLM`s,
a 1,024-piece SentencePiece vocabulary trained on Python's own
documentation, sequence length 64, batch 32), with random weights (the cost
of a step does not depend on them). Each value is the mean seconds per
optimizer step of `Distiller.fit` over `--steps` steps after a warm-up
epoch, rows interleaved over `--repeats` rounds in one process; the table
gives the median over rounds and its ratio to the off-policy row of the
same round:

- off-policy: KD on the dataset's responses;
- sequence-level: the same step on the teacher's generations, whose one-off
  cost (`kd.generate_teacher_dataset`) is given per training sequence;
- on-policy at `fraction` 0.5 and 1: the student samples `max_new_tokens`
  after each prompt inside the step (KerasHub's `generate_step`), the
  teacher scores them.

Usage:
  python -m benchmarks.lm_recipes             # about 5 minutes on 2 CPU cores
  python -m benchmarks.lm_recipes --tiny      # smoke size
"""

import argparse
import time

from benchmarks import common

common.configure_environment()

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_distill as kd  # noqa: E402

PROMPT_TOKENS = 16


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/lm_recipes.json")
    args = parser.parse_args(argv)
    args.batch, args.length, args.vocabulary = 32, 64, 1024
    args.teacher, args.student = dict(hidden=128, layers=4), dict(hidden=48, layers=2)
    if args.tiny:
        args.steps, args.repeats, args.new_tokens, args.batch = 2, 1, 4, 4
        args.length, args.vocabulary = 16, 128
        args.teacher, args.student = dict(hidden=16, layers=1), dict(hidden=8, layers=1)
    return args


def make_models(args):
    from pydoc_data.topics import topics

    import keras_hub
    import tensorflow as tf

    text = [topics[name] for name in sorted(topics)][: 30 if args.tiny else None]
    proto = keras_hub.tokenizers.compute_sentence_piece_proto(
        tf.data.Dataset.from_tensor_slices(text), vocabulary_size=args.vocabulary)

    def causal_lm(hidden, layers):
        tokenizer = keras_hub.models.LlamaTokenizer(proto=proto)
        backbone = keras_hub.models.LlamaBackbone(
            vocabulary_size=tokenizer.vocabulary_size(), num_layers=layers, num_query_heads=4,
            num_key_value_heads=2, hidden_dim=hidden, intermediate_dim=2 * hidden)
        preprocessor = keras_hub.models.LlamaCausalLMPreprocessor(
            tokenizer, sequence_length=args.length)
        return keras_hub.models.LlamaCausalLM(backbone=backbone, preprocessor=preprocessor)

    return causal_lm(**args.teacher), causal_lm(**args.student), text


def token_batches(args, student, count, seed=0):
    """`count` prompt/response batches of random token ids: weight 0 on the
    prompt's labels, 1 on the response's."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, args.vocabulary, size=(count * args.batch, args.length + 1))
    ids[:, 0] = student.preprocessor.tokenizer.start_token_id
    x = {"token_ids": ids[:, :-1].astype("int32"),
         "padding_mask": np.ones((len(ids), args.length), bool)}
    weight = np.ones((len(ids), args.length), "float32")
    weight[:, : PROMPT_TOKENS - 1] = 0.0
    return x, ids[:, 1:].astype("int32"), weight


def seconds_per_step(distiller, data, args):
    x, y, weight = data

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)

    times = []
    distiller.fit(x, y, sample_weight=weight, batch_size=args.batch, shuffle=False,
                  verbose=0)  # Warm-up: tracing.
    times.clear()
    distiller.fit(x, y, sample_weight=weight, batch_size=args.batch, shuffle=False,
                  callbacks=[Timer()], verbose=0)
    return float(np.mean(times))  # (a fraction mixes sampled and kept steps)


def main(argv=None):
    args = parse_args(argv)
    teacher, student, _ = make_models(args)
    data = token_batches(args, student, args.steps)
    rows = {
        "off-policy": None,
        "on-policy, fraction 0.5": kd.OnPolicy(0.5, args.new_tokens, seed=0),
        "on-policy, fraction 1": kd.OnPolicy(1.0, args.new_tokens, seed=0),
    }
    distillers = {}
    for name, on_policy in rows.items():
        distiller = kd.Distiller(
            teacher=teacher, student=student, alpha=0.5, temperature=1.0, on_policy=on_policy,
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        distiller.compile(optimizer=keras.optimizers.AdamW(2e-3))
        distillers[name] = distiller
    ratios = {name: [] for name in rows}
    seconds = {name: [] for name in rows}
    for _ in range(args.repeats):
        base = None
        for name, distiller in distillers.items():
            value = seconds_per_step(distiller, data, args)
            base = value if base is None else base
            seconds[name].append(value)
            ratios[name].append(value / base)
            print(f"{name}: {value:.3f} s/step ({value / base:.2f}x)", flush=True)
    prompts = [" ".join(["def"] * 4)] * (args.batch * 2)
    start = time.perf_counter()
    kd.generate_teacher_dataset(teacher, prompts, args.length, batch_size=args.batch)
    kd.generate_teacher_dataset(teacher, prompts, args.length, batch_size=args.batch)
    generation = (time.perf_counter() - start) / (2 * len(prompts))
    report = {
        "command": common.command_line(), "machine": common.machine_description(),
        "batch": args.batch, "sequence_length": args.length, "new_tokens": args.new_tokens,
        "seconds_per_step": seconds, "ratio_to_off_policy": ratios,
        "teacher_generation_seconds_per_sequence": generation,
    }
    common.write_json(args.out, report)
    table = [[name, f"{np.median(seconds[name]):.3f}", f"{np.median(ratios[name]):.2f}x"]
             for name in rows]
    table.insert(1, ["sequence-level (the off-policy step on the teacher's sequences)",
                     f"{np.median(seconds['off-policy']):.3f}",
                     f"1.00x, + {generation:.3f} s per sequence, once"])
    print(common.markdown_table(["recipe", "seconds per step", "vs off-policy"], table))
    return report


if __name__ == "__main__":
    main()
