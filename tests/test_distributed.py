"""Derivatives that travel (issue 18): pickling, worker processes (spawn), threads, one
cache folder filled by several processes at once, and Dask's distributed scheduler."""

import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

import distributed_functions as dfn
import s2sad

RNG = np.random.default_rng(0)
W, B = RNG.standard_normal((3, 4)), RNG.standard_normal(3)
X = RNG.standard_normal(4)
TESTS = os.path.dirname(os.path.abspath(__file__))


def _transformations(backend):
    return {
        "grad": (s2sad.grad(dfn.loss, backend=backend), (X, W, B)),
        "jacfwd": (s2sad.jacfwd(dfn.model, backend=backend), (X, W, B)),
        "jacrev-argnums": (s2sad.jacrev(dfn.model, argnums=(1, 2), backend=backend), (X, W, B)),
        "hessian": (s2sad.hessian(dfn.loss, backend=backend), (X, W, B)),
        "value_and_grad": (s2sad.value_and_grad(dfn.loss, backend=backend), (X, W, B)),
        "hessp": (s2sad.hessp(dfn.loss, backend=backend), (X, X, W, B)),
        "vmap-jacrev": (
            s2sad.vmap(s2sad.jacrev(dfn.model, backend=backend), in_axes=(0, None, None), backend=backend),
            (np.stack([X, 2 * X]), W, B),
        ),
    }


def _same(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(_transformations("python")))
def test_pickle_round_trip(name):
    g, args = _transformations("python")[name]
    expected = g(*args)  # built and called before pickling: nothing compiled travels
    h = pickle.loads(pickle.dumps(g))
    assert type(h) is type(g) and h is not g
    _same(h(*args), expected)


def test_vjp_function_pickles_and_matches_the_dot_product_test():
    """vjp's vjp_fn pickles as (function, primals, backend): the unpickled one computes the
    same cotangents, and <u, J v> = <J^T u, v> against jvp (the dot-product test)."""
    value, vjp_fn = s2sad.vjp(dfn.model, X, W, B, backend="python")
    u = RNG.standard_normal(np.shape(value))
    bars = vjp_fn(u)
    again = pickle.loads(pickle.dumps(vjp_fn))(u)
    _same(again, bars)
    tangents = (RNG.standard_normal(X.shape), RNG.standard_normal(W.shape), RNG.standard_normal(B.shape))
    _, out_dot = s2sad.jvp(dfn.model, (X, W, B), tangents, backend="python")
    np.testing.assert_allclose(np.sum(u * out_dot), sum(np.sum(b * t) for b, t in zip(bars, tangents)), rtol=1e-12)


@pytest.mark.numba
def test_pickle_round_trip_numba():
    g = s2sad.grad(dfn.loss)
    expected = g(X, W, B)
    _same(pickle.loads(pickle.dumps(g))(X, W, B), expected)
    np.testing.assert_allclose(expected, dfn.loss_grad(X, W, B), rtol=1e-12)


def test_spawn_pool_and_process_pool_executor():
    import concurrent.futures
    import multiprocessing

    g = s2sad.grad(dfn.loss, backend="python")
    points = [X * k for k in range(1, 5)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pooled = pool.starmap(dfn.call, [(g, p, W, B) for p in points])
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        executed = list(ex.map(dfn.call, [g] * 4, points, [W] * 4, [B] * 4))
    for p, a, b in zip(points, pooled, executed):
        np.testing.assert_allclose(a, dfn.loss_grad(p, W, B), rtol=1e-12)
        np.testing.assert_allclose(b, dfn.loss_grad(p, W, B), rtol=1e-12)


def _in_threads(calls, n):
    results, errors = [None] * n, []
    barrier = threading.Barrier(n)

    def run(k):
        try:
            barrier.wait()
            results[k] = calls(k)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.mark.parametrize("round_", range(3))
def test_threads_first_calls_of_different_new_functions(round_):
    """Eight threads each build a different function never transformed before: the builds
    run at the same time and must not emit into each other's code."""
    fns = [dfn.make_family(k) for k in range(8)]  # new function objects each round
    x = np.linspace(-0.5, 0.5, 5)
    grads = _in_threads(lambda k: s2sad.grad(fns[k], backend="python")(x), 8)
    hessians = _in_threads(lambda k: s2sad.hessian(fns[k], backend="python")(x), 8)
    h = 1e-6
    for k in range(8):
        for v in np.eye(5)[:2]:
            fd = (fns[k](x + h * v) - fns[k](x - h * v)) / (2 * h)
            assert grads[k] @ v == pytest.approx(fd, rel=1e-6, abs=1e-8)
        g = s2sad.grad(fns[k], backend="python")
        fd = (g(x + h * np.eye(5)[0]) - g(x - h * np.eye(5)[0])) / (2 * h)
        np.testing.assert_allclose(hessians[k][:, 0], fd, rtol=1e-5, atol=1e-7)


@pytest.mark.numba
def test_threads_first_calls_of_the_same_new_function_numba():
    g = s2sad.grad(dfn.make_family(3))
    x = np.linspace(-0.5, 0.5, 5)
    results = _in_threads(lambda k: g(x), 8)
    reference = s2sad.grad(dfn.make_family(3), backend="python")(x)
    for r in results:
        np.testing.assert_allclose(r, reference, rtol=1e-12)


def test_threads_different_known_functions_against_closed_forms():
    x = np.linspace(-0.9, 0.9, 7)
    results = _in_threads(lambda k: s2sad.grad(dfn.FAMILY[k], backend="python")(x), 8)
    for k, r in enumerate(results):
        np.testing.assert_allclose(r, dfn.DERIVATIVES[k](x), rtol=1e-12)


RACE = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
import distributed_functions as dfn
import s2sad
x = np.linspace(-0.9, 0.9, 7)
for k, f in enumerate(dfn.FAMILY[:{count}]):
    np.testing.assert_allclose(s2sad.grad(f, backend={backend!r})(x), dfn.DERIVATIVES[k](x), rtol=1e-12)
print("ok")
"""


def _race(folder, processes, backend, count):
    env = dict(os.environ, S2SAD_CACHE_DIR=str(folder))
    code = RACE.format(tests=TESTS, backend=backend, count=count)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0 and out.strip() == "ok", err[-2000:]
    files = os.listdir(folder)
    # one module per function (and, on numba, the shared kernels'), each whole
    assert sorted(f.split("_grad_")[0] for f in files if "_grad_" in f) == [f"f{k}" for k in range(count)]
    for name in files:
        if name.endswith(".py"):
            with open(os.path.join(folder, name)) as fh:
                compile(fh.read(), name, "exec")
    assert not [f for f in files if f.endswith(".tmp")]


@pytest.mark.parametrize("round_", range(10))
def test_cache_race_python(tmp_path, round_):
    """Processes fill one empty cache folder with the same modules at the same time."""
    _race(tmp_path, 3, "python", 8)


@pytest.mark.numba
def test_cache_race_numba(tmp_path):
    _race(tmp_path, 2, "numba", 3)
    _race(tmp_path, 2, "numba", 3)  # and load what the first two wrote


@pytest.mark.numba
def test_dask_local_cluster_matches_one_process():
    pytest.importorskip("distributed")
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    per_sample = s2sad.vmap(s2sad.grad(dfn.loss), in_axes=(0, None, None))
    samples = np.random.default_rng(7).standard_normal((4000, 4))
    expected = per_sample(samples, W, B)  # compiles into the cache folder the workers read
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                chunks = da.from_array(samples, chunks=(1000, 4))
                grads = chunks.map_blocks(per_sample, W, B, dtype=float)
                result = client.compute(grads).result()
                workers = client.run(os.getpid)
    assert len(set(workers.values())) == 2 and os.getpid() not in workers.values()
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_allclose(expected[5], dfn.loss_grad(samples[5], W, B), rtol=1e-12)
