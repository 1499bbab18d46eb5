"""The Distiller's steps on the PyTorch backend (eager autograd)."""

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
