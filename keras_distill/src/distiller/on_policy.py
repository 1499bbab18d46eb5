"""On-policy distillation: the teacher scores the student's own continuations.

GKD (Agarwal et al., 2024, https://arxiv.org/abs/2306.13649) and MiniLLM
(Gu et al., 2024) train a generative student on sequences it samples
itself, so that it learns from the teacher where its own generations go
(no train/inference mismatch). With `on_policy=OnPolicy(fraction)`, each
training batch is, with probability `fraction`, rewritten inside the
compiled train step before the teacher runs:

1. The prompt of each row is kept: its tokens before the first label of
   weight > 0 (the response of `{"prompts", "responses"}` data; the start
   token alone for plain text).
2. The student continues it with KerasHub's own generation
   (`CausalLM.generate_step`, its key/value cache and while loop) and a
   KerasHub sampler (`RandomSampler`, or `TopKSampler` with `top_k`) at
   `temperature`, seeded by a `keras.random.SeedGenerator` of the
   Distiller, so that `seed` makes runs repeatable on every backend.
3. The teacher and the student then read the generated sequence, and every
   distillation term is computed on the generated tokens only (the prompt,
   what follows the end token, what exceeds `max_new_tokens` and the
   padding have weight 0).

The student loss needs the dataset's targets, which a sampled batch no
longer has: it is left out of sampled batches (`alpha` weighs it on the
others; the logged `student_loss` averages them), as GKD trains sampled
batches on the divergence alone. `fraction=0` does not sample at all: the
step is the off-policy one, exactly. Generation runs only in the batches
that sample (`keras.ops.cond`); on JAX the sampler's state is threaded
through the condition explicitly.
"""

import keras
from keras import ops

from keras_distill.src.teachers import generations
from keras_distill.src.utils import validation
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.imports import require

#: Key of the teacher outputs: 1.0 when the batch was sampled, else 0.0.
SAMPLED = "on_policy_sampled"


@keras.saving.register_keras_serializable(package="keras_distill")
class OnPolicy:
    """Trains a fraction of the batches on the student's own samples.

    Pass it to `keras_distill.Distiller(..., on_policy=OnPolicy(0.5))` (or
    to `compile`). The student must be a KerasHub `CausalLM` (it
    generates), and the teacher must run (not a cache). The terms read the
    generated tokens only; `kd.losses.JensenShannon(beta)` is GKD's
    generalized JSD, `kd.losses.ReverseKLDivergence()` MiniLLM's reverse KL.

    Args:
        fraction: The probability in [0, 1] that a batch is sampled; 0 is
            off-policy distillation, exactly, and 1 is GKD's `lmbda=1`.
        max_new_tokens: Tokens generated after each prompt at most
            (default: until the sequence length or the end token).
        temperature: The sampling temperature (> 0).
        top_k: Sample among the `top_k` most likely tokens; None for the
            whole vocabulary.
        seed: An integer seed of the sampling and of the choice of batches.
    """

    def __init__(self, fraction=0.5, max_new_tokens=None, temperature=1.0, top_k=None,
                 seed=None):
        self.fraction = validation.check_in_range(
            fraction, "fraction", 0.0, 1.0, "0 is off-policy distillation; 1 samples every batch."
        )
        validation.check_count(max_new_tokens, "max_new_tokens", optional=True)
        validation.check_count(top_k, "top_k", optional=True)
        validation.check_count(seed, "seed", low=0, optional=True)
        self.max_new_tokens = max_new_tokens
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            0 < temperature < float("inf")
        ):
            raise invalid_argument("temperature", temperature, "a finite number > 0",
                                   "It divides the student's logits when sampling; 1 keeps them.")
        self.temperature = float(temperature)
        self.top_k = top_k
        self.seed = seed

    def get_config(self):
        return {"fraction": self.fraction, "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature, "top_k": self.top_k, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        settings = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"OnPolicy({settings})"

    def sampler(self):
        """The KerasHub sampler of the student's continuations."""
        samplers = require("keras_hub", "keras-hub", "hub").samplers
        if self.top_k is None:
            return samplers.RandomSampler(seed=self.seed, temperature=self.temperature)
        return samplers.TopKSampler(k=self.top_k, seed=self.seed, temperature=self.temperature)


def as_on_policy(on_policy, distiller):
    """`on_policy` validated against the Distiller's models: an `OnPolicy`
    with `fraction > 0`, or None (no sampling)."""
    if on_policy is None:
        return None
    if not isinstance(on_policy, OnPolicy):
        raise invalid_argument(
            "on_policy", on_policy, "a keras_distill.OnPolicy or None",
            "Pass on_policy=keras_distill.OnPolicy(fraction=0.5, max_new_tokens=...).",
        )
    student = distiller.student
    preprocessor = getattr(student, "preprocessor", None)
    if not hasattr(student, "generate_step") or preprocessor is None:
        raise invalid_argument(
            "on_policy", on_policy,
            "a student that generates: a KerasHub CausalLM with its preprocessor",
            f"The student {getattr(student, 'name', student)!r} cannot sample continuations.",
        )
    if distiller.teacher is None:
        raise invalid_argument(
            "on_policy", on_policy, "a Distiller with a teacher",
            "The teacher scores the student's samples, so it must run: pass `teacher=`.",
        )
    return on_policy if on_policy.fraction > 0 else None


class Sampling:
    """The Distiller's sampling state: the KerasHub sampler and a seed
    generator for the choice of batches. `variables` are their seed states,
    which the Distiller tracks, so that they are part of the train step's
    state on JAX."""

    def __init__(self, on_policy):
        self.on_policy = on_policy
        self.sampler = on_policy.sampler()
        self.choice_seed = keras.random.SeedGenerator(
            None if on_policy.seed is None else on_policy.seed + 1
        )

    @property
    def variables(self):
        return [*self.sampler.variables, self.choice_seed.state]


def configure(distiller, on_policy):
    """Installs `on_policy` (validated) on the Distiller."""
    validated = as_on_policy(on_policy, distiller)
    distiller._on_policy = on_policy
    distiller._sampling = None if validated is None else Sampling(validated)
    distiller._sampling_state = [] if validated is None else distiller._sampling.variables


def sampled_flag(teacher_outputs):
    """The step's `SAMPLED` flag, or None off the on-policy path."""
    if isinstance(teacher_outputs, dict):
        return teacher_outputs.get(SAMPLED)
    return None


def _prompt_lengths(sample_weight, length):
    """Tokens of each row's prompt: the inputs before the first target of
    weight > 0 (position p of `x` predicts label p)."""
    targets = ops.cast(sample_weight > 0, "int32")
    first = ops.argmax(targets, axis=-1)
    has_target = ops.max(targets, axis=-1) > 0
    return ops.where(has_target, ops.cast(first, "int32") + 1, length)


def _generate(student, sampler, token_ids, prompt_length):
    """The student's continuations of each row's prompt (KerasHub's
    `generate_step` with `sampler`): `(token_ids, padding_mask)`."""
    positions = ops.arange(ops.shape(token_ids)[-1], dtype="int32")[None, :]
    in_prompt = positions < prompt_length[:, None]
    pad = student.preprocessor.tokenizer.pad_token_id
    inputs = {"token_ids": ops.where(in_prompt, token_ids, ops.cast(pad, token_ids.dtype)),
              "padding_mask": in_prompt}
    stops = generations.stop_token_ids(student.preprocessor.tokenizer)
    previous = student.sampler
    student.sampler = sampler
    try:
        outputs = student.generate_step(inputs, stop_token_ids=stops)
    finally:
        student.sampler = previous
    return (ops.stop_gradient(outputs["token_ids"]),
            ops.cast(outputs["padding_mask"], "bool"))


def _sampled_batch(on_policy, token_ids, padding_mask, prompt_length):
    """`(x, y, sample_weight)` of generated sequences: targets are the
    generated tokens (to `max_new_tokens`); the last position has none."""
    length = ops.shape(token_ids)[-1]
    positions = ops.arange(length, dtype="int32")[None, :]
    real = padding_mask
    if on_policy.max_new_tokens is not None:
        real = ops.logical_and(real, positions < prompt_length[:, None]
                               + on_policy.max_new_tokens)
    generated = ops.logical_and(real, positions >= prompt_length[:, None])
    pad = ops.zeros_like(token_ids[:, :1])
    y = ops.concatenate([token_ids[:, 1:], pad], axis=-1)
    weight = ops.concatenate([generated[:, 1:], ops.zeros_like(generated[:, :1])], axis=-1)
    return token_ids, real, y, ops.cast(weight, "float32")


def _cond_with_state(pred, sample, keep, read, written):
    """`ops.cond(pred, sample, keep)`, where `sample` reads the variables
    `read` and updates `written` (seed states). On JAX, a branch can neither
    read the step's traced state nor write it, so the values go in and come
    out of the condition explicitly."""
    if keras.backend.backend() != "jax":
        return ops.cond(pred, sample, keep)
    variables = list(read) + list(written)
    values = [ops.convert_to_tensor(variable) for variable in variables]

    def run(branch, values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
            outputs = branch()
        old = values[len(read):]
        new = [scope.get_current_value(variable) for variable in written]
        return outputs, [o if n is None else n for n, o in zip(new, old)]

    outputs, values = ops.cond(pred, lambda: run(sample, values), lambda: run(keep, values))
    for variable, value in zip(written, values):
        variable.assign(value)
    return outputs


def sample_batch(distiller, x, y, sample_weight):
    """The batch, rewritten to the student's continuations with probability
    `fraction` (see the module docstring).

    Returns:
        `(x, y, sample_weight, sampled)`, `sampled` a float32 scalar (1.0
        when the batch was sampled).
    """
    sampling = distiller._sampling
    on_policy = sampling.on_policy
    token_ids, padding_mask = x["token_ids"], ops.cast(x["padding_mask"], "bool")
    length = ops.shape(token_ids)[-1]
    weight = (ops.cast(padding_mask, "float32") if sample_weight is None
              else ops.cast(sample_weight, "float32"))
    prompt_length = _prompt_lengths(weight, length)
    if on_policy.fraction >= 1:
        pred = ops.convert_to_tensor(True)
    else:
        draw = keras.random.uniform((), seed=sampling.choice_seed)
        pred = draw < on_policy.fraction

    def sample():
        # The student's whole state is read as the step holds it (on JAX,
        # the traced values); only the sampler's seed state is written.
        return _generate(distiller.student, sampling.sampler, token_ids, prompt_length)

    def keep():
        return token_ids, padding_mask

    new_ids, new_mask = _cond_with_state(
        pred, sample, keep, distiller.student.variables, sampling.sampler.variables)
    new_ids, new_mask, new_y, new_weight = _sampled_batch(on_policy, new_ids, new_mask,
                                                          prompt_length)
    sampled = ops.cast(pred, "float32")
    x = dict(x, token_ids=ops.where(pred, new_ids, token_ids),
             padding_mask=ops.where(pred, new_mask, padding_mask))
    # Without labels there is no student loss to leave out of sampled batches.
    y = None if y is None else ops.where(pred, ops.cast(new_y, y.dtype), y)
    sample_weight = ops.where(pred, new_weight, weight)
    return x, y, sample_weight, sampled
