"""Automated distillation: a KerasTuner `HyperModel` of Distillers.

The search itself is KerasTuner's (`RandomSearch`, `BayesianOptimization`,
`Hyperband`, ...): this module only says what a trial builds. Each trial's
Distiller has its loss family, temperature and alpha (and, through
`build_student(hp)`, the student's size; optionally the teacher and the
learning rate) drawn from the trial's hyperparameters.
"""

import keras

from keras_distill.src.distiller.distiller import Distiller
from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.imports import require

keras_tuner = require("keras_tuner", "keras-tuner", "tune")

TEMPERATURES = (1.0, 2.0, 4.0, 8.0)
ALPHAS = (0.1, 0.3, 0.5, 0.7, 0.9)
#: The default student loss, for students that output logits (each trial
#: gets a copy).
STUDENT_LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _named(values, argument, name_of, expected):
    """`{name: value}` of a dict, or of a list named by `name_of`."""
    if isinstance(values, dict):
        named = dict(values)
    elif isinstance(values, (list, tuple)):
        named = {name_of(value): value for value in values}
        if len(named) != len(values):
            raise invalid_argument(
                argument, [name_of(value) for value in values], f"{expected} with distinct names",
                "Pass a dict {name: value} to name them yourself.",
            )
    else:
        named = {name_of(values): values}
    if not named or not all(isinstance(key, str) for key in named):
        raise invalid_argument(argument, values, f"{expected} (a list, or a dict by name)")
    return named


def _term_name(term):
    if isinstance(term, (list, tuple)) and term:
        return "+".join(_term_name(member) for member in term)
    if not isinstance(term, DistillationLoss):
        raise invalid_argument(
            "losses", term,
            "keras_distill.losses terms, e.g. kd.losses.DKD(), or lists of them (one candidate)",
            "Each trial builds a fresh copy of the chosen term from its config.",
        )
    return term.name


def _values(values, argument):
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not values or not all(
        isinstance(value, (int, float)) and not isinstance(value, bool) for value in values
    ):
        raise invalid_argument(argument, values, "a non-empty list of numbers")
    return [float(value) for value in values]


def _rate_schedule(config):
    """The learning-rate schedule of an optimizer's config, or None for a number."""
    rate = config["learning_rate"]
    return keras.optimizers.schedules.deserialize(rate) if isinstance(rate, dict) else None


def _optimizer_with_rate(optimizer, learning_rate):
    """A new optimizer from `optimizer`'s config whose learning rate is
    `learning_rate`: for a schedule, its peak (`warmup_target` when it warms
    up, else `initial_learning_rate`)."""
    config = optimizer.get_config()
    schedule = _rate_schedule(config)
    if schedule is None:
        config["learning_rate"] = learning_rate
    else:
        schedule_config = schedule.get_config()
        peak = ("warmup_target" if schedule_config.get("warmup_target") is not None
                else "initial_learning_rate")
        schedule_config[peak] = learning_rate
        config["learning_rate"] = schedule.__class__.from_config(schedule_config)
    return optimizer.__class__.from_config(config)


def _check_rate_schedule(optimizer):
    config = optimizer.get_config()
    if "learning_rate" not in config:
        raise invalid_argument(
            "optimizer", optimizer.__class__.__name__,
            "with `learning_rates`, an optimizer with a learning rate of its own",
            "Pass the inner optimizer: under a mixed_float16 policy Keras wraps it in a "
            "LossScaleOptimizer when the Distiller is compiled.",
        )
    schedule = _rate_schedule(config)
    if schedule is not None and "initial_learning_rate" not in schedule.get_config():
        raise invalid_argument(
            "optimizer", f"{optimizer.__class__.__name__}(learning_rate="
            f"{schedule.__class__.__name__}(...))",
            "with `learning_rates`, an optimizer whose learning rate is a number or a "
            "schedule with an `initial_learning_rate` (CosineDecay, ExponentialDecay, ...)",
            "Pass learning_rates=None, or search the schedule's own values in a HyperModel "
            "of your own.",
        )


def _fresh(obj):
    """A new instance from `obj`'s config (terms, optimizers, metrics), or
    a list of them."""
    if isinstance(obj, (list, tuple)):
        return [_fresh(member) for member in obj]
    return obj.__class__.from_config(obj.get_config())


class DistillationHyperModel(keras_tuner.HyperModel):
    """Distillers whose recipe is searched by a KerasTuner tuner.

    `build(hp)` returns a compiled `keras_distill.Distiller` whose
    hyperparameters are:

    - `teacher`: a choice among the teacher candidates, when several are
      given (`teacher=[t1, t2]` here means a choice, not an ensemble; pass a
      `keras_distill.teachers.Ensemble` as one candidate for that);
    - `distillation_loss`: a choice among `losses` (by term name);
    - `temperature` and `alpha`: choices among `temperatures` and `alphas`
      (a single value fixes it); `alpha=1.0` trains on the labels alone, so
      with it among `alphas` the search can find that distilling does not
      pay;
    - `learning_rate`: a choice among `learning_rates`, when given. The
      learning rate often matters more than the recipe: a student trained
      from scratch should get the same search before the two are compared;
    - whatever `build_student(hp)` registers (its width, depth, ...).

    `fit(hp, model, *args, **kwargs)` is `model.fit(*args, **kwargs)`. The
    tuner's objective is read from the logs, so give validation data that
    is not your test set: `tuner.search(x, y, validation_data=(x_val,
    y_val), epochs=...)` with `objective="val_accuracy"`. The best model is
    a Distiller whose `.student` is the answer.

    Args:
        teacher: The trained teacher (a dict `{output_name: teacher}` is one
            `MultiTask` teacher, as for the Distiller), or a list of
            candidates to choose from, named by their `name`.
        build_student: `hp -> keras.Model`, a new untrained student.
        losses: A term (e.g. `kd.losses.KLDivergence()`) or a list or dict
            `{name: term}` of them to choose from. A candidate may itself be
            a list of terms, trained together (named `"a+b"` from their
            names unless a dict names it). Defaults to KD, DKD, DIST and
            logit-standardized KD.
        temperatures: The temperatures to choose from.
        alphas: The weights of the student loss to choose from.
        student_loss_fn: Passed to every Distiller (a fresh copy of a Keras
            loss). The default is for students that output logits.
        optimizer: An optimizer name or instance; each trial gets a fresh
            copy. Defaults to `"adam"`.
        learning_rates: `None` (the optimizer's own), or the learning rates
            to choose from. With a schedule (e.g. `CosineDecay`), each value
            replaces its peak: `warmup_target` when it warms up, else its
            `initial_learning_rate`.
        metrics: Passed to `compile` (the objective reads them). Defaults
            to `["accuracy"]`.
        **distiller_kwargs: Other arguments of `Distiller`, the same for
            every trial (e.g. `teacher_outputs`).

    Example:

    ```python
    import keras_tuner

    def build_student(hp):
        units = hp.Int("units", 32, 128, step=32)
        return keras.Sequential([keras.Input((784,)), keras.layers.Dense(units, "relu"),
                                 keras.layers.Dense(10)])

    hypermodel = kd.tuning.DistillationHyperModel(teacher, build_student)
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=20)
    tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=10)
    student = tuner.get_best_models(1)[0].student
    ```
    """

    def __init__(self, teacher, build_student, losses=None, temperatures=TEMPERATURES,
                 alphas=ALPHAS, student_loss_fn=STUDENT_LOSS, optimizer="adam",
                 learning_rates=None, metrics=("accuracy",), name=None, tunable=True,
                 **distiller_kwargs):
        super().__init__(name=name, tunable=tunable)
        if not callable(build_student):
            raise invalid_argument(
                "build_student", build_student, "a function hp -> keras.Model",
                "It builds a new, untrained student for each trial.",
            )
        if losses is None:
            from keras_distill import losses as kd_losses

            losses = [kd_losses.KLDivergence(), kd_losses.DKD(), kd_losses.DIST(),
                      kd_losses.KLDivergence(standardize=True, name="kl_divergence_standardized")]
        self.teachers = (
            _named(teacher, "teacher", lambda model: model.name, "teacher candidates")
            if isinstance(teacher, (list, tuple)) else {"teacher": teacher}
        )
        self.losses = _named(losses, "losses", _term_name, "distillation terms")
        for term in self.losses.values():
            _term_name(term)
        self.temperatures = _values(temperatures, "temperatures")
        self.alphas = _values(alphas, "alphas")
        self.build_student = build_student
        self.student_loss_fn = student_loss_fn
        self.optimizer = optimizer
        self.learning_rates = None
        if learning_rates is not None:
            self.learning_rates = _values(learning_rates, "learning_rates")
            if not all(rate > 0 for rate in self.learning_rates):
                raise invalid_argument("learning_rates", learning_rates,
                                       "positive numbers, e.g. [1e-3, 3e-3, 1e-2]")
            _check_rate_schedule(self._optimizer())
        self.metrics = list(metrics or [])
        self.distiller_kwargs = distiller_kwargs

    def _choice(self, hp, name, values):
        if len(values) == 1:
            return hp.Fixed(name, values[0])
        return hp.Choice(name, values)

    def build(self, hp):
        teacher = self.teachers[self._choice(hp, "teacher", list(self.teachers))]
        term = _fresh(self.losses[self._choice(hp, "distillation_loss", list(self.losses))])
        distiller = Distiller(
            teacher=teacher,
            student=self.build_student(hp),
            distillation_loss_fn=term,
            student_loss_fn=(_fresh(self.student_loss_fn)
                             if isinstance(self.student_loss_fn, keras.losses.Loss)
                             else self.student_loss_fn),
            temperature=self._choice(hp, "temperature", self.temperatures),
            alpha=self._choice(hp, "alpha", self.alphas),
            **self.distiller_kwargs,
        )
        optimizer = self._optimizer()
        if self.learning_rates is not None:
            rate = self._choice(hp, "learning_rate", self.learning_rates)
            optimizer = _optimizer_with_rate(optimizer, rate)
        distiller.compile(optimizer=optimizer, metrics=[
            metric if isinstance(metric, str) else _fresh(metric) for metric in self.metrics
        ])
        return distiller

    def _optimizer(self):
        if isinstance(self.optimizer, str):
            return keras.optimizers.get(self.optimizer)
        return _fresh(self.optimizer)

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, **kwargs)

