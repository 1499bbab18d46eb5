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
# Run it as a script (`python examples/distill_a_language_model.py`, a few
# minutes on a CPU; `--small` for a smoke run in seconds) or as the notebook
# `notebooks/06_distill_a_language_model.ipynb`, built from this file.

# %%
import os
import sys

# The small-size switch: KD_NOTEBOOK_SMALL=1 (or --small) trains tiny models
# on a tenth of the corpus for a smoke run.
SMALL = os.environ.get("KD_NOTEBOOK_SMALL", "0") == "1" or "--small" in sys.argv[1:]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

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
TEACHER = dict(hidden=64, layers=2) if SMALL else dict(hidden=128, layers=4)
STUDENT = dict(hidden=32, layers=1) if SMALL else dict(hidden=48, layers=2)
TEACHER_EPOCHS = 3 if SMALL else 12
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

distiller = kd.Distiller(
    teacher=teacher,
    student=student,
    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    alpha=0.5,
    temperature=2.0,
)
distiller.compile(optimizer=optimizer())
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
