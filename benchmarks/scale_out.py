"""The benchmark's scale-out row: per-sample gradients over 10^6 samples in one process (the
numba vmap, one prange loop) and on a Dask LocalCluster of 2 worker processes (map_blocks
over chunks, the same vmap on each). Times are warm (the workers' first calls, which load
the compiled code from the cache folder, are run once before timing); every result is
checked against the closed form on a slice before it is timed.

    python benchmarks/scale_out.py [--samples 1000000] [--workers 2]
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))


def gradient_closed_form(X, weight, bias, target):
    t = np.tanh(X @ weight.T + bias)
    return ((t - target) * (1.0 - t * t)) @ weight


def measure(samples=1_000_000, workers=2, chunk=None, repeats=3):
    """{"one process": seconds, "dask": seconds or a reason, ...} for per-sample gradients."""
    import dask_model
    import s2sad

    rng = np.random.default_rng(0)
    weight, bias, target = rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal(3)
    X = rng.standard_normal((samples, 4))
    per_sample = s2sad.vmap(s2sad.grad(dask_model.loss), in_axes=(0, None, None, None))
    expected = gradient_closed_form(X[:1000], weight, bias, target)
    np.testing.assert_allclose(per_sample(X[:1000], weight, bias, target), expected, rtol=1e-10)

    def best(fn):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return min(times), out

    one, out = best(lambda: per_sample(X, weight, bias, target))
    np.testing.assert_allclose(out[:1000], expected, rtol=1e-10)
    row = {"samples": samples, "one_process_s": one, "one_process_per_s": samples / one}
    try:
        import dask
        import dask.array as da
        from distributed import Client, LocalCluster
    except ImportError:
        row["dask"] = "not installed (pip install -e '.[dask]')"
        return row
    chunk = chunk or samples // (4 * workers)
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                # the samples are made on the workers (as data read there would be), then kept
                data = da.random.default_rng(1).standard_normal((samples, 4), chunks=(chunk, 4)).persist()
                X = data.compute()
                grads = data.map_blocks(per_sample, weight, bias, target, dtype=float)
                client.compute(grads[:10]).result()  # the workers' first calls
                seconds, out = best(lambda: client.compute(grads.sum(axis=0)).result())
                head = client.compute(grads[:1000]).result()
    np.testing.assert_allclose(head, gradient_closed_form(X[:1000], weight, bias, target), rtol=1e-10)
    np.testing.assert_allclose(out, per_sample(X, weight, bias, target).sum(axis=0), rtol=1e-8)
    row.update({"workers": workers, "chunk": chunk, "dask_s": seconds, "dask_per_s": samples / seconds})
    return row


def markdown(row):
    lines = [
        "| per-sample gradients (4 -> 3 tanh layer, squared error) | samples | time | samples/s |",
        "|---|---|---|---|",
        f"| s2sad vmap(grad), numba prange, one process | {row['samples']:,} | {row['one_process_s'] * 1e3:.1f} ms | "
        f"{row['one_process_per_s']:,.0f} |",
    ]
    if "dask_s" in row:
        lines.append(
            f"| the same per chunk of {row['chunk']:,}, Dask LocalCluster of {row['workers']} worker processes "
            f"(sum over samples gathered) | {row['samples']:,} | {row['dask_s'] * 1e3:.1f} ms | "
            f"{row['dask_per_s']:,.0f} |"
        )
    else:
        lines.append(f"| Dask LocalCluster | — | {row.get('dask')} | |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    opts = parser.parse_args()
    print(markdown(measure(opts.samples, opts.workers)))
