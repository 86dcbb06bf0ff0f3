"""The model of examples/batch_on_dask.py, in a module of its own so Dask's workers import
it by name (s2sad's transformations pickle by reference to the function they transform)."""

import numpy as np


def model(x, weight, bias):
    """A small network layer applied to one sample ``x`` (4 features -> 3 outputs)."""
    return np.tanh(weight @ x + bias)


def loss(x, weight, bias, target):
    """A per-sample loss: squared error of the model against ``target``."""
    r = model(x, weight, bias) - target
    return 0.5 * np.sum(r * r)
