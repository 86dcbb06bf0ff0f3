"""The benchmark workloads W1-W10 of docs/WORKLOADS.md: primal functions, inputs, closed forms.

The primal functions are ordinary NumPy code at module level in a real file, because s2sad
(and tangent) read the source with ``inspect``. The same function objects are run by JAX and
autograd with ``np`` rebound to their NumPy look-alike (``run.py: with_numpy``), so every peer
differentiates the same code; torch needs its own spelling (``run.py``).

The closed forms are the hand-written derivatives: ``*_numpy`` in NumPy (the reference every
result is checked against) and plain loops meant to be compiled with ``numba.njit`` (the
limit). This module does not import numba; ``run.py`` compiles the loop versions.
"""

import numpy as np
import scipy.optimize

# --- primal functions (what every method differentiates) ------------------------------------


def predict(weight, bias, x):
    """One dense layer, the tutorials' ``predict`` (W1-W6)."""
    return np.tanh(weight @ x + bias)


def sin_sum(x):
    """W7: f(x) = sum(sin(x)); its Hessian is diag(-sin(x))."""
    return np.sum(np.sin(x))


def rosen(x):
    """W8: the Rosenbrock function as scipy.optimize.rosen documents it."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)


def rk4_pendulums(y0, p, dt, n_steps):
    """W9: RK4 for two coupled damped pendulums, final state after ``n_steps`` steps.

    State y = (q1, q2, v1, v2), parameters p = (k, c, kc):
    q' = v,  v' = -k sin(q) - c v + kc (q_other - q)   (``s[1::-1] - s[:2]`` = (q2 - q1, q1 - q2)).
    The right-hand side is written out at each stage; ``rk4_pendulums_helper`` is the same
    integrator with the right-hand side in a helper function, as people also write it.
    """
    k, c, kc = p[0], p[1], p[2]
    y = y0
    for _ in range(n_steps):
        s = y
        k1 = np.concatenate((s[2:], -k * np.sin(s[:2]) - c * s[2:] + kc * (s[1::-1] - s[:2])))
        s = y + 0.5 * dt * k1
        k2 = np.concatenate((s[2:], -k * np.sin(s[:2]) - c * s[2:] + kc * (s[1::-1] - s[:2])))
        s = y + 0.5 * dt * k2
        k3 = np.concatenate((s[2:], -k * np.sin(s[:2]) - c * s[2:] + kc * (s[1::-1] - s[:2])))
        s = y + dt * k3
        k4 = np.concatenate((s[2:], -k * np.sin(s[:2]) - c * s[2:] + kc * (s[1::-1] - s[:2])))
        y = y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return y


def pendulums_rhs(s, p):
    """Right-hand side of the W9 ODE."""
    return np.concatenate((s[2:], -p[0] * np.sin(s[:2]) - p[1] * s[2:] + p[2] * (s[1::-1] - s[:2])))


def rk4_pendulums_helper(y0, p, dt, n_steps):
    """W9 again, calling the helper ``pendulums_rhs`` at each stage."""
    y = y0
    for _ in range(n_steps):
        k1 = pendulums_rhs(y, p)
        k2 = pendulums_rhs(y + 0.5 * dt * k1, p)
        k3 = pendulums_rhs(y + 0.5 * dt * k2, p)
        k4 = pendulums_rhs(y + dt * k3, p)
        y = y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return y


def huber_loop(x, delta):
    """W10: Huber loss written as a loop with a branch per element."""
    total = 0.0
    for i in range(x.shape[0]):
        a = x[i]
        if abs(a) <= delta:
            total += 0.5 * a * a
        else:
            total += delta * (abs(a) - 0.5 * delta)
    return total


# --- inputs ---------------------------------------------------------------------------------

RK4_DT = 0.01
HUBER_DELTA = 1.0


def predict_inputs(d_out, d_in, seed=0):
    """(weight, bias, x) for ``predict``; scaled so tanh is not saturated."""
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)
    return weight, rng.standard_normal(d_out), rng.standard_normal(d_in)


def predict_batch_inputs(batch, d_out, d_in, seed=0):
    """(weight, bias, xs) with xs of shape (batch, d_in), for the vmap workloads (W6)."""
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)
    return weight, rng.standard_normal(d_out), rng.standard_normal((batch, d_in))


def vector_inputs(n, seed=0):
    """(x, v): a point and a direction, for W7 and W8."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n), rng.standard_normal(n)


def rk4_inputs():
    """(y0, p) for W9: pendulums released away from rest; stiffness, damping, coupling."""
    return np.array([1.0, -0.5, 0.0, 0.2]), np.array([1.0, 0.1, 0.3])


def huber_inputs(n, seed=0):
    """x for W10, spread so that both branches are taken."""
    return 2.0 * np.random.default_rng(seed).standard_normal(n)


# --- closed forms in NumPy: the references ---------------------------------------------------


def predict_jac_x_numpy(weight, bias, x):
    t = np.tanh(weight @ x + bias)
    return (1 - t**2)[:, None] * weight


def predict_jac_weight_bias_numpy(weight, bias, x):
    t = np.tanh(weight @ x + bias)
    d = 1 - t**2
    m = weight.shape[0]
    jac_weight = np.zeros((m, m, x.shape[0]))
    jac_weight[np.arange(m), np.arange(m), :] = d[:, None] * x
    return jac_weight, np.diag(d)


def predict_hess_x_numpy(weight, bias, x):
    t = np.tanh(weight @ x + bias)
    c = -2 * t * (1 - t**2)
    return c[:, None, None] * weight[:, :, None] * weight[:, None, :]


def predict_batch_jac_x_numpy(weight, bias, xs):
    t = np.tanh(xs @ weight.T + bias)
    return (1 - t**2)[:, :, None] * weight


def predict_batch_hess_x_numpy(weight, bias, xs):
    t = np.tanh(xs @ weight.T + bias)
    c = -2 * t * (1 - t**2)
    return c[:, :, None, None] * weight[:, :, None] * weight[:, None, :]


def sin_sum_hvp_numpy(x, v):
    return -np.sin(x) * v


def sin_sum_hessian_numpy(x):
    return np.diag(-np.sin(x))


rosen_grad_numpy = scipy.optimize.rosen_der
rosen_hess_numpy = scipy.optimize.rosen_hess
rosen_hvp_numpy = scipy.optimize.rosen_hess_prod


def huber_grad_numpy(x, delta):
    return np.clip(x, -delta, delta)


# --- closed forms as loops, to be compiled with numba (the limit) ----------------------------
# Each is self-contained (numba compiles one function at a time) and also runs in CPython.
# The big outputs (W5, W6) are allocated by the caller: filling a NumPy-allocated array was
# faster than allocating it inside numba; the likely reason: NumPy asks Linux for 2 MiB pages
# for large arrays and Numba's allocator does not (s2sad/backends/numba/kernels.py, ``_HUGE_BYTES``). The
# measurement itself is not on record (docs/PERFORMANCE.md).


def predict_jac_x_loops(weight, bias, x):
    m, n = weight.shape
    out = np.empty((m, n))
    for i in range(m):
        s = bias[i]
        for j in range(n):
            s += weight[i, j] * x[j]
        d = 1.0 - np.tanh(s) ** 2
        for j in range(n):
            out[i, j] = d * weight[i, j]
    return out


def predict_jac_weight_bias_loops(weight, bias, x):
    m, n = weight.shape
    jac_weight = np.zeros((m, m, n))
    jac_bias = np.zeros((m, m))
    for i in range(m):
        s = bias[i]
        for j in range(n):
            s += weight[i, j] * x[j]
        d = 1.0 - np.tanh(s) ** 2
        for j in range(n):
            jac_weight[i, i, j] = d * x[j]
        jac_bias[i, i] = d
    return jac_weight, jac_bias


def predict_hess_x_fill(weight, bias, x, out):
    m, n = weight.shape
    for i in range(m):
        s = bias[i]
        for j in range(n):
            s += weight[i, j] * x[j]
        t = np.tanh(s)
        c = -2.0 * t * (1.0 - t * t)
        for j in range(n):
            cw = c * weight[i, j]
            for k in range(n):
                out[i, j, k] = cw * weight[i, k]
    return out


def predict_batch_jac_x_fill(weight, bias, xs, out):
    m, n = weight.shape
    for b in range(xs.shape[0]):
        for i in range(m):
            s = bias[i]
            for j in range(n):
                s += weight[i, j] * xs[b, j]
            d = 1.0 - np.tanh(s) ** 2
            for j in range(n):
                out[b, i, j] = d * weight[i, j]
    return out


def predict_batch_hess_x_fill(weight, bias, xs, out):
    m, n = weight.shape
    for b in range(xs.shape[0]):
        for i in range(m):
            s = bias[i]
            for j in range(n):
                s += weight[i, j] * xs[b, j]
            t = np.tanh(s)
            c = -2.0 * t * (1.0 - t * t)
            for j in range(n):
                cw = c * weight[i, j]
                for k in range(n):
                    out[b, i, j, k] = cw * weight[i, k]
    return out


def sin_sum_hvp_loops(x, v):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = -np.sin(x[i]) * v[i]
    return out


def rosen_grad_loops(x):
    n = x.shape[0]
    out = np.zeros(n)
    for i in range(n - 1):
        r = x[i + 1] - x[i] * x[i]
        out[i] += -400.0 * x[i] * r - 2.0 * (1.0 - x[i])
        out[i + 1] += 200.0 * r
    return out


def rosen_hess_loops(x):
    n = x.shape[0]
    out = np.zeros((n, n))
    for i in range(n - 1):
        out[i, i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
        out[i + 1, i + 1] += 200.0
        out[i, i + 1] = -400.0 * x[i]
        out[i + 1, i] = -400.0 * x[i]
    return out


def rosen_hvp_loops(x, v):
    n = x.shape[0]
    out = np.zeros(n)
    for i in range(n - 1):
        diag = 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
        off = -400.0 * x[i]
        out[i] += diag * v[i] + off * v[i + 1]
        out[i + 1] += 200.0 * v[i + 1] + off * v[i]
    return out


def huber_grad_loops(x, delta):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = min(max(x[i], -delta), delta)
    return out


def rk4_pendulums_sensitivity(y0, p, dt, n_steps):
    """W9 closed form: RK4 on the state and its forward sensitivities S = dy/d(y0, p).

    S' = J_y(y) S + [0 | J_p(y)] is integrated with the same RK4 stages as y, which gives
    exactly the derivative of the discrete RK4 map. Returns (dy/dy0 (4, 4), dy/dp (4, 3)).
    """
    k, c, kc = p[0], p[1], p[2]
    y = y0.copy()
    sens = np.zeros((4, 7))
    for i in range(4):
        sens[i, i] = 1.0
    ky = np.empty((4, 4))
    ks = np.empty((4, 4, 7))
    stage_y = np.empty(4)
    stage_s = np.empty((4, 7))
    weights = (1.0, 2.0, 2.0, 1.0)
    for _ in range(n_steps):
        for stage in range(4):
            if stage == 0:
                stage_y[:] = y
                stage_s[:, :] = sens
            else:
                h = dt if stage == 3 else 0.5 * dt
                stage_y[:] = y + h * ky[stage - 1]
                stage_s[:, :] = sens + h * ks[stage - 1]
            q1, q2, v1, v2 = stage_y[0], stage_y[1], stage_y[2], stage_y[3]
            ky[stage, 0] = v1
            ky[stage, 1] = v2
            ky[stage, 2] = -k * np.sin(q1) - c * v1 + kc * (q2 - q1)
            ky[stage, 3] = -k * np.sin(q2) - c * v2 + kc * (q1 - q2)
            # J_y S for the rows (q1', q2', v1', v2'), then + J_p in the parameter columns 4..6
            for col in range(7):
                s_q1, s_q2, s_v1, s_v2 = (
                    stage_s[0, col],
                    stage_s[1, col],
                    stage_s[2, col],
                    stage_s[3, col],
                )
                ks[stage, 0, col] = s_v1
                ks[stage, 1, col] = s_v2
                ks[stage, 2, col] = (-k * np.cos(q1) - kc) * s_q1 + kc * s_q2 - c * s_v1
                ks[stage, 3, col] = kc * s_q1 + (-k * np.cos(q2) - kc) * s_q2 - c * s_v2
            ks[stage, 2, 4] += -np.sin(q1)
            ks[stage, 2, 5] += -v1
            ks[stage, 2, 6] += q2 - q1
            ks[stage, 3, 4] += -np.sin(q2)
            ks[stage, 3, 5] += -v2
            ks[stage, 3, 6] += q1 - q2
        for stage in range(4):
            y += dt / 6.0 * weights[stage] * ky[stage]
            sens += dt / 6.0 * weights[stage] * ks[stage]
    return sens[:, :4].copy(), sens[:, 4:].copy()
