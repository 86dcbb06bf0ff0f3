"""The tutorial workload: Jacobians of predict(weight, bias, x) = tanh(weight @ x + bias).

Run with `make demo`. Computes the Jacobian w.r.t. x by jacrev and jacfwd (one sweep over a
batch of seeds each), checks both against the closed form (1 - t**2)[:, None] * weight,
times them against the tutorial's baseline (a Python loop of one-row vjp calls), and prints
the generated derivative source.
"""

import time

import numpy as np

import s2sad


def predict(weight, bias, x):
    return np.tanh(weight @ x + bias)


def best_of(fn, repeat=200):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return np.median(times) * 1e6


def main(D=16):
    rng = np.random.default_rng(0)
    weight, bias, x = rng.standard_normal((D, D)), rng.standard_normal(D), rng.standard_normal(D)
    t = np.tanh(weight @ x + bias)
    closed_form = (1 - t**2)[:, None] * weight

    print(f"predict: R^{D} -> R^{D}, Jacobian w.r.t. x (argnums=2)\n")
    for name in ("jacrev", "jacfwd"):
        transform = getattr(s2sad, name)
        g = transform(predict, argnums=2)
        t0 = time.perf_counter()
        J = g(weight, bias, x)
        first = time.perf_counter() - t0
        error = np.abs(J - closed_form).max()
        assert error < 1e-12, f"{name} disagrees with the closed form by {error}"
        print(
            f"{name:8s} shape {J.shape}  max |J - closed form| = {error:.1e}  "
            f"first call (transform + compile) {first:.2f} s  then {best_of(lambda: g(weight, bias, x)):.1f} us/call"
        )

    # the tutorial's baseline: one vjp call per row of the Jacobian
    _, vjp_fn = s2sad.vjp(predict, weight, bias, x)
    rows = lambda: np.stack([vjp_fn(row)[2] for row in np.eye(D)])  # noqa: E731
    assert np.abs(rows() - closed_form).max() < 1e-12
    print(f"{'vjp loop':8s} {D} vjp calls: {best_of(rows, 20):.1f} us per Jacobian")

    jw, jb = s2sad.jacrev(predict, argnums=(0, 1))(weight, bias, x)
    print(f"\njacrev w.r.t. (weight, bias): shapes {jw.shape} and {jb.shape}")

    print("\nThe generated source of jacrev(predict, argnums=2):\n")
    print(s2sad.source(s2sad.jacrev(predict, argnums=2, backend="python"), weight, bias, x))


if __name__ == "__main__":
    main()
