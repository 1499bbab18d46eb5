"""Prompt/response text for KerasHub causal language models.

Instruction data is `{"prompts": [...], "responses": [...]}`: the model
reads the prompt and the response as one sequence, but only the response's
tokens are targets. KerasHub's own instruction-tuned preprocessors (Gemma 3,
say) encode it so: the two segments packed with KerasHub's
`MultiSegmentPacker` (the start token before the prompt, the end token
after the response, no separator), and `sample_weight` 1 on the labels that
are response tokens, 0 on the prompt and the padding. `preprocess` does the
same for any `CausalLMPreprocessor` (GPT-2, Llama, ...), so that every
term of the Distiller, which reads `sample_weight` as the token mask, is
computed on the response only.
"""

from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import tensorflow as tf

PROMPTS = "prompts"
RESPONSES = "responses"
KEYS = (PROMPTS, RESPONSES)


def is_prompt_response(x):
    """Whether `x` is a dict with prompts and responses."""
    if not isinstance(x, dict) or not (set(x) & set(KEYS)):
        return False
    if set(x) != set(KEYS):
        raise invalid_argument(
            "x", sorted(x), f"a dict with exactly the keys {list(KEYS)}",
            "Pass {'prompts': [...], 'responses': [...]} (strings), or plain strings.",
        )
    return True


def _packer(preprocessor, start_value, end_value, pad_value):
    import keras_hub

    return keras_hub.layers.MultiSegmentPacker(
        sequence_length=preprocessor.sequence_length + 1,
        start_value=start_value,
        end_value=end_value,
        pad_value=pad_value,
        sep_value=[],
    )


def _ragged(ids):
    """A tokenizer's output as a `tf.RaggedTensor` (eagerly, KerasHub
    tokenizers give lists of lists)."""
    if isinstance(ids, tf.RaggedTensor):
        return ids
    if isinstance(ids, tf.Tensor):
        return tf.RaggedTensor.from_tensor(ids)
    return tf.ragged.constant(ids, dtype="int32")


def preprocess(preprocessor, x, y=None, sample_weight=None):
    """`(x, y, sample_weight)` of a batch of prompts and responses.

    Args:
        preprocessor: The model's `CausalLMPreprocessor` (its tokenizer,
            `sequence_length`, `add_start_token` and `add_end_token`).
        x: `{"prompts": strings, "responses": strings}`, batched.
        y: Must be None: the response is the target.
        sample_weight: Optional per-example weights, multiplied in.

    Returns:
        `({"token_ids", "padding_mask"}, next tokens, weights)` of shape
        `(batch, sequence_length)`; the weights are 0 on labels that are
        prompt tokens or padding.
    """
    if y is not None:
        raise invalid_argument(
            "y", y, "None with prompt/response data",
            "The response is the target: pass only {'prompts', 'responses'}.",
        )
    tokenizer = preprocessor.tokenizer
    segments = tuple(_ragged(tokenizer(x[key])) for key in KEYS)
    flags = {"add_start_value": preprocessor.add_start_token,
             "add_end_value": preprocessor.add_end_token}
    token_ids, segment_ids = _packer(
        preprocessor, tokenizer.start_token_id, tokenizer.end_token_id, tokenizer.pad_token_id
    )(segments, **flags)
    # The same packing of ones marks the real tokens (truncation included),
    # also where the pad id is a real token's id (GPT-2's end token).
    ones = tuple(tf.ones_like(segment, "int32") for segment in segments)
    real, _ = _packer(preprocessor, 1, 1, 0)(ones, **flags)
    weights = tf.cast(segment_ids[..., 1:] == 1, "float32")
    if sample_weight is not None:
        weights = weights * tf.reshape(tf.cast(sample_weight, "float32"), (-1, 1))
    x = {"token_ids": token_ids[..., :-1], "padding_mask": real[..., :-1] == 1}
    return x, token_ids[..., 1:], weights
