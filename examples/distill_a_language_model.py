# %% [markdown]
# # Distil a language model
#
# A KerasHub `CausalLM` teacher distilled into a smaller `CausalLM`, token by
# token, from raw text, with nothing downloaded:
#
# - the corpus is the Python documentation that ships with every Python
#   (`pydoc_data.topics`, about 465,000 characters of English prose and
#   grammar), cut into pieces of about 190 characters;
# - the tokenizer is a SentencePiece vocabulary trained here on the training
#   pieces (`keras_hub.tokenizers.compute_sentence_piece_proto`);
# - teacher and students are Llama-style `CausalLM`s built from configs.
#
# We train the teacher, then two students of the same size for the same
# number of steps: one from scratch (its own `fit`), one distilled from the
# teacher (`keras_distill.Distiller`). Each is scored by its perplexity on
# held-out pieces no model trained on.
#
# A second part compares three recipes for a generative student on
# prompt/response data at equal steps: off-policy distillation (on the
# dataset's responses), sequence-level distillation (on the teacher's own
# generations, `kd.generate_teacher_dataset`) and on-policy distillation (on
# the student's own samples, scored by the teacher: `kd.OnPolicy`).
#
# Run it as a script (`python examples/distill_a_language_model.py`, some
# minutes on a CPU; `--small` for a smoke run) or as the notebook
# `notebooks/06_distill_a_language_model.ipynb`, built from this file.

# %%
import os
import sys

# The small-size switch: KD_NOTEBOOK_SMALL=1 (or --small) trains tiny models
# on a tenth of the corpus for a smoke run.
SMALL = os.environ.get("KD_NOTEBOOK_SMALL", "0") == "1" or "--small" in sys.argv[1:]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import time  # noqa: E402

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_distill as kd  # noqa: E402

# Seeded once, before any SentencePiece tokenizer exists: seeding again would
# reset TensorFlow's kernel cache, which holds the tokenizers' resources
# (tensorflow/text#570).
keras.utils.set_random_seed(0)
VOCABULARY_SIZE = 256 if SMALL else 1024
SEQUENCE_LENGTH = 64
BATCH_SIZE = 32
LEARNING_RATE = 2e-3
TEACHER = dict(hidden=64, layers=1) if SMALL else dict(hidden=128, layers=4)
STUDENT = dict(hidden=32, layers=1) if SMALL else dict(hidden=48, layers=2)
TEACHER_EPOCHS = 2 if SMALL else 12
STUDENT_EPOCHS = 2 if SMALL else 6

# %% [markdown]
# ## The corpus
#
# Every documentation topic, in a fixed order, cut at word boundaries into
# pieces of about 190 characters (about 55 tokens). One piece in ten, drawn
# with a fixed seed, is held out for the perplexities.

# %%
from pydoc_data.topics import topics  # noqa: E402


def pieces(characters=190):
    """The documentation text cut at word boundaries into pieces."""
    words = " ".join(topics[name] for name in sorted(topics)).split()
    result, current, length = [], [], 0
    for word in words:
        current.append(word)
        length += len(word) + 1
        if length >= characters:
            result.append(" ".join(current))
            current, length = [], 0
    return result


texts = pieces()
order = np.random.default_rng(0).permutation(len(texts))
held_out = [texts[i] for i in order[: len(texts) // 10]]
train = [texts[i] for i in order[len(texts) // 10 :]]
if SMALL:
    train, held_out = train[:240], held_out[:48]
print(f"{len(train)} training pieces, {len(held_out)} held out; e.g. {train[0]!r}")

# %% [markdown]
# ## The tokenizer and the models
#
# SentencePiece, trained on the training pieces only. Teacher and students
# share it: token-level distillation compares the two models id by id, and
# the Distiller checks that their tokenizers agree.

# %%
proto = keras_hub.tokenizers.compute_sentence_piece_proto(
    tf.data.Dataset.from_tensor_slices(train), vocabulary_size=VOCABULARY_SIZE
)


def causal_lm(hidden, layers):
    """A Llama-style `CausalLM` with its preprocessor, from a config."""
    tokenizer = keras_hub.models.LlamaTokenizer(proto=proto)
    backbone = keras_hub.models.LlamaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=layers,
        num_query_heads=4,
        num_key_value_heads=2,
        hidden_dim=hidden,
        intermediate_dim=2 * hidden,
    )
    preprocessor = keras_hub.models.LlamaCausalLMPreprocessor(
        tokenizer, sequence_length=SEQUENCE_LENGTH
    )
    return keras_hub.models.LlamaCausalLM(backbone=backbone, preprocessor=preprocessor)


def perplexity(model, texts):
    """Perplexity over the real (not padded) tokens of `texts`."""
    metric = keras_hub.metrics.Perplexity(from_logits=True)
    for x, y, sample_weight in (
        tf.data.Dataset.from_tensor_slices(texts).batch(64).map(model.preprocessor)
    ):
        metric.update_state(y, model(x, training=False), sample_weight=sample_weight)
    return float(metric.result())


def optimizer():
    return keras.optimizers.AdamW(LEARNING_RATE)


# %% [markdown]
# ## The teacher

# %%
teacher = causal_lm(**TEACHER)
teacher.compile(optimizer=optimizer())
teacher.fit(train, batch_size=BATCH_SIZE, epochs=TEACHER_EPOCHS, verbose=2)

# %% [markdown]
# ## A student from scratch, and a distilled one
#
# The same architecture and initial weights, the same optimizer, batch size
# and number of steps. The distilled student's loss is
# `alpha * cross-entropy + (1 - alpha) * T^2 * KL(teacher_T || student_T)`
# per real token; the Distiller maps the student's preprocessor over the raw
# text, as the student's own `fit` does.

# %%
scratch, student = causal_lm(**STUDENT), causal_lm(**STUDENT)
student.backbone.set_weights(scratch.backbone.get_weights())
scratch.compile(optimizer=optimizer())
scratch.fit(train, batch_size=BATCH_SIZE, epochs=STUDENT_EPOCHS, verbose=2)



def distiller_for(model, temperature, on_policy=None):
    """A compiled Distiller from the teacher: token cross-entropy and KD."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    distiller = kd.Distiller(teacher=teacher, student=model, student_loss_fn=loss, alpha=0.5,
                             temperature=temperature, on_policy=on_policy)
    distiller.compile(optimizer=optimizer())
    return distiller


distiller = distiller_for(student, temperature=2.0)
distiller.fit(train, batch_size=BATCH_SIZE, epochs=STUDENT_EPOCHS, verbose=2)

# %% [markdown]
# ## Held-out perplexity

# %%
results = {
    "teacher": (teacher, perplexity(teacher, held_out)),
    "student, from scratch": (scratch, perplexity(scratch, held_out)),
    "student, distilled": (student, perplexity(student, held_out)),
}
print("| model | parameters | held-out perplexity |\n| --- | ---: | ---: |")
for name, (model, value) in results.items():
    print(f"| {name} | {model.count_params():,} | {value:.2f} |")
gain = results["student, from scratch"][1] - results["student, distilled"][1]
print(f"\nDistillation lowers the student's perplexity by {gain:.2f} at equal steps.")

# %% [markdown]
# The distilled student is an ordinary `CausalLM`: it generates, and saves to
# a preset, as before.

# %%
print(student.generate("The for statement", max_length=24))

# %% [markdown]
# ## Off-policy, sequence-level and on-policy distillation
#
# Each piece becomes a prompt (its first 12 words) and a response (the
# rest). With `{"prompts": ..., "responses": ...}` data, the Distiller reads
# the prompt but computes every term and the cross-entropy on the response
# tokens only. Three students, from the same initial weights, train for the
# same number of optimizer steps:
#
# - **off-policy**: KD on the dataset's responses;
# - **sequence-level** (Kim & Rush, 2016): KD on the teacher's continuations
#   of the training prompts (sampled once, before training, top-k 10);
# - **on-policy** (GKD, Agarwal et al., 2024): half of the batches are the
#   student's own continuations, sampled inside the train step, and the
#   teacher scores them.
#
# Each is scored by its held-out response perplexity and by the teacher's
# log-likelihood per token of the student's own continuations of held-out
# prompts (how teacher-like its generations are).

# %%
PROMPT_WORDS = 12
NEW_TOKENS = 16 if SMALL else 32
RECIPE_EPOCHS = 1 if SMALL else STUDENT_EPOCHS


def prompt_response(pieces):
    """`{"prompts", "responses"}`: each piece's first words, and the rest."""
    prompts, responses = [], []
    for piece in pieces:
        words = piece.split()
        prompts.append(" ".join(words[:PROMPT_WORDS]))
        responses.append(" " + " ".join(words[PROMPT_WORDS:]))
    return {"prompts": prompts, "responses": responses}


train_pairs, held_out_pairs = prompt_response(train), prompt_response(held_out)
if SMALL:  # Two steps per recipe: the smoke run checks that each one runs.
    train_pairs = {key: value[:64] for key, value in train_pairs.items()}
    held_out_pairs = {key: value[:32] for key, value in held_out_pairs.items()}


def teacher_log_likelihood(model, prompts):
    """The teacher's mean log-probability of the tokens `model` samples
    after `prompts` (top-k 10, seeded)."""
    model.compile(sampler=keras_hub.samplers.TopKSampler(k=10, seed=1))
    samples = kd.generate_teacher_dataset(model, prompts, SEQUENCE_LENGTH, batch_size=64)
    total, count = 0.0, 0.0
    for x, y, weight in samples:
        log_p = keras.ops.log_softmax(teacher(x, training=False), axis=-1)
        picked = np.take_along_axis(keras.ops.convert_to_numpy(log_p), y.numpy()[..., None], -1)
        total += float((picked[..., 0] * weight.numpy()).sum())
        count += float(weight.numpy().sum())
    return total / count


class StepTimer(keras.callbacks.Callback):
    """Seconds per optimizer step, after the first epoch (compilation)."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        if epoch > 0 or RECIPE_EPOCHS == 1:
            self.times.append((time.perf_counter() - self.start) / self.steps)


recipes = {}
for name in ("off-policy", "sequence-level", "on-policy"):
    model = causal_lm(**STUDENT)
    model.backbone.set_weights(scratch.backbone.get_weights())
    timer, start = StepTimer(), time.perf_counter()
    if name == "sequence-level":
        teacher.compile(sampler=keras_hub.samplers.TopKSampler(k=10, seed=0))
        data = kd.generate_teacher_dataset(
            teacher, train_pairs["prompts"], SEQUENCE_LENGTH, batch_size=BATCH_SIZE
        ).shuffle(64, seed=0)
        distiller = distiller_for(model, temperature=1.0)
    else:
        data = train_pairs
        sampled = name == "on-policy"
        distiller = distiller_for(
            model, 1.0, kd.OnPolicy(0.5, max_new_tokens=NEW_TOKENS, seed=0) if sampled else None
        )
    generation_seconds = time.perf_counter() - start
    distiller.fit(data, batch_size=None if name == "sequence-level" else BATCH_SIZE,
                  epochs=RECIPE_EPOCHS, callbacks=[timer], verbose=2)
    # Evaluation is the student's cross-entropy, on the response tokens.
    response_loss = distiller.evaluate(held_out_pairs, batch_size=64, verbose=0,
                                       return_dict=True)["loss"]
    recipes[name] = {
        "perplexity": float(np.exp(response_loss)),
        "teacher log-likelihood": teacher_log_likelihood(model, held_out_pairs["prompts"]),
        "seconds per step": float(np.median(timer.times)),
        "generation seconds": generation_seconds if name == "sequence-level" else 0.0,
    }

# %%
print("| recipe | held-out response perplexity | teacher log-likelihood of the "
      "student's samples (per token) | seconds per step | teacher generation (s) |")
print("| --- | ---: | ---: | ---: | ---: |")
for name, row in recipes.items():
    print(f"| {name} | {row['perplexity']:.2f} | {row['teacher log-likelihood']:.3f} | "
          f"{row['seconds per step']:.3f} | {row['generation seconds']:.0f} |")
