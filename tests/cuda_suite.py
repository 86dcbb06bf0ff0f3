"""vmap(backend="cuda") against vmap on python, over the NumPy suite's entries.

For each entry of tests/numpy_suite.py whose arguments have at most 24 elements, ``jacfwd``
and ``jacrev`` (python backend) are mapped over a batch of two samples with the cuda backend
(the simulator where there is no GPU: ``NUMBA_ENABLE_CUDASIM=1``) and with the python
backend, the oracle (a loop over the samples; numpy_suite checks the derivatives themselves
against finite differences).

    cd tests && NUMBA_ENABLE_CUDASIM=1 python -m cuda_suite [--step K] [--only SUBSTR] [--json FILE]

Outcomes: PASS (the numbers agree), REFUSED (an S2SADError: the kernel builder's refusal, with
the user's line), WRONG (numbers that disagree: the worst), CRASH (any other exception).
``--step K`` takes every K-th entry (the simulator runs each kernel's threads in Python:
the whole suite takes about an hour on 2 cores).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy_suite as ns  # noqa: E402
import s2sad  # noqa: E402
from s2sad import vmap  # noqa: E402

MAX_ELEMENTS = 24
SAMPLES = 2


def _close(a, b):
    if isinstance(b, tuple):
        return isinstance(a, tuple) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=1e-11, atol=1e-12, equal_nan=True)


def entries(step=1, only=""):
    return [
        e
        for k, e in enumerate(ns.ENTRIES)
        if k % step == 0
        and only in e.label
        and e.dtype == "float64"
        and all(int(np.prod(s)) <= MAX_ELEMENTS for s in e.shapes)
    ]


def check(entry, mode, module):
    """(outcome, message) of one entry and mode."""
    fn = getattr(module, entry.name)
    base = ns.inputs(entry)
    batch = [np.stack([np.asarray(a) * (1 + 0.01 * k) for k in range(SAMPLES)]) for a in base]
    g = getattr(s2sad, mode)(fn, argnums=tuple(range(len(base))), backend="python")
    with np.errstate(all="ignore"):
        try:
            want = vmap(g, backend="python")(*batch)
        except s2sad.S2SADError as exc:  # refused on python too: nothing to compare
            return "REFUSED", f"(python) {' '.join(str(exc).split())}"
        try:
            got = vmap(g, backend="cuda")(*batch)
        except s2sad.S2SADError as exc:
            return "REFUSED", " ".join(str(exc).split())
        except Exception as exc:  # noqa: BLE001 - every exception is an outcome
            return "CRASH", f"{type(exc).__name__}: {exc}"
    return ("PASS", "") if _close(got, want) else ("WRONG", "")


def run(selected, modes=("jacfwd", "jacrev"), progress=None):
    module = ns.load()
    results = {}
    for entry in selected:
        for mode in modes:
            results[f"{entry.label}|{mode}"] = check(entry, mode, module)
        if progress:
            progress(results)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--only", default="")
    parser.add_argument("--json", default=None, help="write every outcome here (as the run goes)")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    def progress(results):
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(results, fh, indent=0, sort_keys=True)

    results = run(entries(args.step, args.only), progress=progress)
    counts = collections.Counter(outcome for outcome, _ in results.values())
    for key, (outcome, message) in sorted(results.items()):
        if outcome in ("WRONG", "CRASH"):
            print(f"{outcome:8} {key}  {message[:300]}")
    print(
        f"{len(results)} checks on cuda: "
        + ", ".join(f"{counts[o]} {o.lower()}" for o in ("PASS", "REFUSED", "WRONG", "CRASH"))
        + f"; {time.perf_counter() - start:.0f} s"
    )
    return 1 if counts["WRONG"] or counts["CRASH"] else 0


if __name__ == "__main__":
    sys.exit(main())
