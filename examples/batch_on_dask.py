"""Per-sample Jacobians and Hessians of a small model over 10^6 samples, with Dask.

    python examples/batch_on_dask.py                       # a LocalCluster of 2 worker processes
    python examples/batch_on_dask.py --samples 100000      # fewer samples
    python examples/batch_on_dask.py --scheduler tcp://host:8786   # a running cluster

The samples are a ``dask.array`` chunked along the sample axis; each chunk goes through
``map_blocks`` to ``s2sad.vmap(s2sad.jacrev(model))`` (one compiled ``prange`` loop per chunk)
on the workers. The transformations pickle by reference to ``dask_model.model`` and their
options: each worker rebuilds them and loads the compiled code from its s2sad cache folder
(``$S2SAD_CACHE_DIR``), compiling once per worker process when the cache is empty. The
result is checked against the single-process one on a slice.

Requires the extra: ``pip install -e '.[dask]'``.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dask_model  # noqa: E402
import s2sad  # noqa: E402

D_IN, D_OUT = 4, 3


def parameters():
    rng = np.random.default_rng(0)
    return rng.standard_normal((D_OUT, D_IN)), rng.standard_normal(D_OUT), rng.standard_normal(D_OUT)


def per_sample_transforms():
    """Batched (numba prange) per-sample Jacobian of the model and Hessian of the loss, w.r.t.
    the sample; the parameters are broadcast (in_axes None)."""
    jac = s2sad.vmap(s2sad.jacrev(dask_model.model), in_axes=(0, None, None))
    hess = s2sad.vmap(s2sad.hessian(dask_model.loss), in_axes=(0, None, None, None))
    return jac, hess


def on_dask(X, client, chunk):
    """The per-sample Jacobians (n, 3, 4) and Hessians (n, 4, 4) of the samples X (n, 4), on
    the cluster behind ``client``: dask arrays, computed by the caller."""
    import dask.array as da

    weight, bias, target = parameters()
    jac, hess = per_sample_transforms()
    samples = da.from_array(X, chunks=(chunk, D_IN)) if isinstance(X, np.ndarray) else X
    J = samples.map_blocks(jac, weight, bias, dtype=float, chunks=(samples.chunks[0], (D_OUT,), (D_IN,)), new_axis=2)
    H = samples.map_blocks(
        hess, weight, bias, target, dtype=float, chunks=(samples.chunks[0], (D_IN,), (D_IN,)), new_axis=2
    )
    return J, H


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=125_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    opts = parser.parse_args(argv)

    import dask
    import dask.array as da
    from dask.diagnostics import ProgressBar  # noqa: F401  (the local schedulers' bar)
    from distributed import Client, LocalCluster, progress

    if opts.scheduler:
        client = Client(opts.scheduler)
        client.upload_file(dask_model.__file__)  # the workers import the model by name
        cluster = None
    else:
        # worker processes (not threads): each runs its own parallel vmap loop; the spawn
        # start method, since a forked process must not inherit Numba's OpenMP threads
        dask.config.set({"distributed.worker.multiprocessing-method": "spawn"})
        cluster = LocalCluster(n_workers=opts.workers, threads_per_worker=1, processes=True)
        client = Client(cluster)
    print(f"Dask: {client}")

    X = da.random.default_rng(1).standard_normal((opts.samples, D_IN), chunks=(opts.chunk, D_IN))
    J, H = on_dask(X, client, opts.chunk)
    t0 = time.perf_counter()
    J_mean, H_mean = J.mean(axis=0), H.mean(axis=0)
    futures = client.compute([J_mean, H_mean, J[:1000], H[:1000], X[:1000]])
    progress(futures)
    J_mean, H_mean, J_head, H_head, X_head = client.gather(futures)
    seconds = time.perf_counter() - t0
    print(
        f"\n{opts.samples} samples: per-sample Jacobians {J.shape} and Hessians {H.shape} in {seconds:.2f} s "
        f"({opts.samples / seconds:,.0f} samples/s, first calls' compiles included)"
    )
    print("mean Jacobian:\n", np.round(J_mean, 4))

    # the same in this process, on the first 1000 samples
    weight, bias, target = parameters()
    jac, hess = per_sample_transforms()
    np.testing.assert_allclose(J_head, jac(X_head, weight, bias), rtol=1e-12)
    np.testing.assert_allclose(H_head, hess(X_head, weight, bias, target), rtol=1e-12)
    print("the cluster's first 1000 Jacobians and Hessians equal this process's")
    client.close()
    if cluster is not None:
        cluster.close()


if __name__ == "__main__":
    main()
