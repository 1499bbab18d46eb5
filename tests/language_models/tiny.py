"""Tiny GPT-2 causal language models built from configs, with a hand-made
byte-pair vocabulary (no download)."""

import keras
import numpy as np
import pytest

keras_hub = pytest.importorskip("keras_hub")

CHARACTERS = list("Ġairplnetos!")
MERGES = [
    "a i", "ai r", "p l", "n e", "pl a", "pla ne", "p o", "r t", "po rt",
    "Ġ a", "Ġa t", "Ġa i", "Ġai r",
]
VOCABULARY = {"<|endoftext|>": 0}
for _token in CHARACTERS + [merge.replace(" ", "") for merge in MERGES]:
    VOCABULARY.setdefault(_token, len(VOCABULARY))

# As in GPT-2's own vocabulary, the end token is the last id and the pad id
# (0) is a real token: generation must tell padding from a generated end.
GENERATION_VOCABULARY = {
    token: index - 1 for token, index in VOCABULARY.items() if index
}
GENERATION_VOCABULARY["<|endoftext|>"] = len(GENERATION_VOCABULARY)

TEXTS = [
    "airplane at airport",
    "airplane airport",
    " air at air",
    "airport at airplane!",
    "a plane",
    "airport",
    "at air at airplane",
    "plane at port!",
]
SEQUENCE_LENGTH = 8


def tokenizer(vocabulary=None):
    return keras_hub.models.GPT2Tokenizer(
        vocabulary=dict(vocabulary or VOCABULARY), merges=list(MERGES)
    )


def causal_lm(hidden=16, layers=1, seed=0, vocabulary_size=None, vocabulary=None):
    """A GPT-2 `CausalLM` with its preprocessor (sequence length 8)."""
    keras.utils.set_random_seed(seed)
    words = tokenizer(vocabulary)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(
        words, sequence_length=SEQUENCE_LENGTH
    )
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=vocabulary_size or words.vocabulary_size(),
        num_layers=layers,
        num_heads=2,
        hidden_dim=hidden,
        intermediate_dim=2 * hidden,
        max_sequence_length=SEQUENCE_LENGTH,
        dropout=0.0,
    )
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor)


def distiller(teacher, student, learning_rate=0.0, alpha=0.3, temperature=2.0, **kwargs):
    """A compiled Distiller: token cross-entropy and KD at `temperature`;
    the default learning rate 0 keeps the weights (logs are of them)."""
    import keras_distill as kd

    model = kd.Distiller(
        teacher=teacher,
        student=student,
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=alpha,
        temperature=temperature,
        **kwargs,
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate))
    return model


def numpy_batch(model, texts):
    """The preprocessor's `(x, y, sample_weight)` of `texts`, as NumPy."""
    x, y, sample_weight = model.preprocessor(texts)
    return (
        {key: keras.ops.convert_to_numpy(value) for key, value in x.items()},
        keras.ops.convert_to_numpy(y),
        keras.ops.convert_to_numpy(sample_weight).astype("float64"),
    )


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))
