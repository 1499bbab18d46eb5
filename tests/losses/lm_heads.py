"""Small LM heads (a Dense with a bias, a tied and an untied reversible
embedding with a soft cap) and hidden states to apply them to."""

import keras
import numpy as np

BATCH, TIME, FEATURES, VOCABULARY = 2, 9, 6, 13


def hidden_states(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")


def _built(layer):
    layer.build((None, FEATURES) if isinstance(layer, keras.layers.Dense) else (None,))
    return layer


def heads():
    keras.utils.set_random_seed(0)
    dense = _built(keras.layers.Dense(VOCABULARY))
    dense.bias.assign(np.linspace(-1, 1, VOCABULARY))
    tied = _built(keras.layers.ReversibleEmbedding(VOCABULARY, FEATURES))
    untied = _built(keras.layers.ReversibleEmbedding(
        VOCABULARY, FEATURES, tie_weights=False, logit_soft_cap=2.0
    ))
    return {"dense": (dense, dense), "tied": (tied, lambda h: tied(h, reverse=True)),
            "untied_soft_cap": (untied, lambda h: untied(h, reverse=True))}
