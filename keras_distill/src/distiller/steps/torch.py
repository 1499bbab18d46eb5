"""The Distiller's steps on the PyTorch backend (eager autograd).

Keras's own step (what `keras.distillation` uses with its `compute_loss`)
calls `self(x)` for the predictions and then `compute_loss`. The Distiller
needs, before the student's forward pass, the step's schedule values and the
teacher's outputs (online or cached), and from that one forward pass the
student's logits and tapped layers as well as its predictions; so it keeps a
step of its own, this small. What each part guarantees:

- `torch.no_grad()` around `_begin_train_step`: autograd records nothing of
  the teacher, whatever its tensors require (teacher cost;
  `test_teacher_is_never_differentiated`), and the teacher runs once per
  step (`test_teacher_runs_once_per_step_and_never_in_evaluate_or_predict`).
- One `_train_loss` and one `backward()`: one student forward per step.
- Schedules and values that callbacks assign need nothing more: the step
  runs eagerly and reads the variables each time
  (`test_callback_holding_the_variable_changes_every_next_step`).

The test step is Keras's shape (the student alone, `_test_logs`).
"""

import torch


def train_step(distiller, data):
    """Teacher under `torch.no_grad()`; one student forward, one backward."""
    with torch.no_grad():
        x, y, sample_weight, teacher = distiller._begin_train_step(data)
    distiller.zero_grad()
    scaled_loss, y_pred = distiller._train_loss(x, y, sample_weight, teacher)
    weights = distiller.trainable_weights
    if weights:
        scaled_loss.backward()
        gradients = [weight.value.grad for weight in weights]
        with torch.no_grad():
            distiller.optimizer.apply(gradients, weights)
    return distiller._train_logs(y, y_pred, sample_weight)


def test_step(distiller, data):
    return distiller._test_logs(data)


def wrap_train_function(distiller, train_function):
    # Eager: the guard raises inside the step itself.
    return train_function
