#!/usr/bin/env python3
"""Benchmark s2sad against JAX, torch.func, autograd, tangent and the closed forms (W1-W10).

    python benchmarks/run.py                 # everything (tens of minutes on 2 cores)
    python benchmarks/run.py --quick         # fewer sizes/variants/repeats: a few minutes
    python benchmarks/run.py --only W1,W7    # a subset of the workloads of docs/WORKLOADS.md

For each (workload, method): the result is first checked against the closed form in NumPy
(a wrong result is reported and never timed); then the median time per call over at least
5 measurements after a warm-up, the first-call time (transform + compile + one call), and the
peak resident memory of one call. Every method runs with the same thread count (default 1),
fixed by environment variables before NumPy, Numba, JAX or torch is imported.

Output: a Markdown table on stdout, JSON (benchmarks/results/latest.json) and a chart of each
method's time relative to the limit (benchmarks/results/latest.png). The limit of a workload
is the fastest of its closed forms compiled with Numba. A peer that is not installed or cannot
do a workload gets a row saying so; any exception becomes an "error: ..." row. Each s2sad
method runs in a forked process of its own, so that a crash or a compile past the time limit
ends only that process and the run goes on (see S2sadWorker).

What each workload measures is in methods.py (the methods: s2sad, peers, closed forms) and
workloads.py (the functions as users write them, their inputs and the closed forms).

Last, the s2sad disk cache: the first jacrev call of ``predict`` (D=16, the forecast example)
in a fresh process as on a fresh install (S2SAD_CACHE_DIR and NUMBA_CACHE_DIR empty), with
an empty S2SAD_CACHE_DIR only, then in another fresh process with the cache that one filled;
and the tape's memory per loop trip (peak RSS at two trip counts, fresh processes).
"""

import argparse
import os
import sys


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes, variants, repeats")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W7")
    parser.add_argument("--threads", type=int, default=1, help="threads for every method")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--json", default=os.path.join(here, "results", "latest.json"))
    parser.add_argument("--png", default=os.path.join(here, "results", "latest.png"))
    parser.add_argument("--no-cache-check", action="store_true", help="skip the cold/warm and tape memory runs")
    parser.add_argument("--no-scale-out", action="store_true", help="skip the per-sample row on Dask (scale_out.py)")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds a first call may take before it is stopped (default: 10 with --quick, else 120)",
    )
    args = parser.parse_args()
    args.only = {w.strip().upper() for w in args.only.split(",") if w.strip()}
    unknown = args.only - {f"W{k}" for k in range(1, 11)}
    if unknown:
        parser.error(f"--only: unknown workloads {sorted(unknown)}; they are W1 to W10")
    return args


def thread_env(threads):
    """Environment variables that fix the thread count of every library used here."""
    n = str(threads)
    return {
        "NUMBA_NUM_THREADS": n,
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "VECLIB_MAXIMUM_THREADS": n,
        "XLA_FLAGS": (
            f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} intra_op_parallelism_threads={n}"
        ),
        "JAX_PLATFORMS": "cpu",
    }


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def set_malloc_thresholds(nbytes):
    """Fix glibc's mmap and trim thresholds at ``nbytes``; False where that is impossible.

    Memory is measured with small thresholds (64 KiB): every large array is mapped and
    returned to the OS at once, so the peak RSS shows each call's arrays (by default glibc
    serves them from memory already resident, which hides them). Time is measured with
    32 MiB, the ceiling glibc's own dynamic threshold reaches in a long-running process
    after the first large free: arrays are reused from the heap as in a user's process, not
    mapped and faulted in anew at every call.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, nbytes)) and bool(libc.mallopt(M_TRIM_THRESHOLD, nbytes))
    except (OSError, AttributeError):
        return False


MEASURE_MEMORY, MEASURE_TIME = 1 << 16, 32 << 20


# Before any import below: BLAS, Numba, XLA and OpenMP read their thread counts at import.
ARGS = parse_args()
os.environ.update(thread_env(ARGS.threads))
MALLOC_FIXED = set_malloc_thresholds(MEASURE_TIME)

import dataclasses  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import select  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [HERE, REPO]  # methods.py, workloads.py; this checkout's s2sad first

from methods import FAMILIES, all_tasks, import_peers  # noqa: E402

# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    quick: bool
    repeats: int  # measurements per method; the median is reported (at least 5)
    measurement_s: float  # a measurement repeats the call until it lasts this long
    max_call_s: float  # a method slower than this per call is timed once, not repeated
    first_call_timeout_s: float  # a first call running longer is stopped (see time_limit)
    rk4_unrolled_steps: int  # RK4 steps for JAX's unrolled loop under jit (its compile time)
    hessian_d_in: int  # W5's input size: 512 as in WORKLOADS.md, smaller for --quick


QUICK = Config(
    quick=True,
    repeats=5,
    measurement_s=0.005,
    max_call_s=0.5,
    first_call_timeout_s=10.0,
    rk4_unrolled_steps=3,
    hessian_d_in=128,
)
FULL = Config(
    quick=False,
    repeats=7,
    measurement_s=0.05,
    max_call_s=5.0,
    first_call_timeout_s=120.0,
    rk4_unrolled_steps=10,
    hessian_d_in=512,
)

# --- measuring ---------------------------------------------------------------------------------


UNINTERRUPTIBLE = (f"{os.sep}numba{os.sep}", f"{os.sep}llvmlite{os.sep}")


class CallTimeout(BaseException):
    """Raised by time_limit; a BaseException, so that libraries' ``except Exception`` let it by."""


class time_limit:
    """Ends the block after ``seconds``.

    ``hard=False``: raises CallTimeout in Python code (a long C call ends first), but never
    inside numba or llvmlite, which can crash later if a compile is abandoned halfway.
    ``hard=True``: the process is killed by SIGALRM (for the forked s2sad measurements).
    """

    def __init__(self, seconds, hard=False):
        self.seconds = seconds
        self.hard = hard

    def __enter__(self):
        def interrupt(signum, frame):
            while frame is not None:
                if any(part in frame.f_code.co_filename for part in UNINTERRUPTIBLE):
                    return  # try again at the next alarm
                frame = frame.f_back
            raise CallTimeout

        self.previous = signal.signal(signal.SIGALRM, signal.SIG_DFL if self.hard else interrupt)
        # repeats every 0.5 s: Python swallows an exception raised inside a garbage-collector
        # callback ("Exception ignored in ..."), as JAX's are, so one alarm may be lost
        signal.setitimer(signal.ITIMER_REAL, self.seconds, 0.5)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        return False


def first_line(error, limit=200):
    """A one-line message: the first lines that say something, without banners."""
    lines = [line.strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line and line.strip("=-*_ ") and line != "Tangent Error"]
    lines = lines[: next((k for k, line in enumerate(lines) if "Suggestion" in line), len(lines))]
    text = " ".join(lines[:2]) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_numpy(value):
    if isinstance(value, (tuple, list)):
        return tuple(to_numpy(v) for v in value)
    if hasattr(value, "detach"):  # torch
        return value.detach().cpu().numpy()
    return np.asarray(value)


def compare(actual, expected, rtol=1e-6):
    """'' when ``actual`` matches the closed form, else what is wrong."""
    if isinstance(expected, tuple):
        if not isinstance(actual, tuple) or len(actual) != len(expected):
            return f"expected a tuple of {len(expected)} arrays, got {type(actual).__name__}"
        for k, (a, e) in enumerate(zip(actual, expected, strict=True)):
            problem = compare(a, e, rtol)
            if problem:
                return f"item {k}: {problem}"
        return ""
    if isinstance(actual, tuple):
        return f"got a tuple of {len(actual)}, expected one array"
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, expected {expected.shape}"
    if actual.dtype != expected.dtype:
        return f"dtype {actual.dtype}, expected {expected.dtype}"
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    if not np.allclose(actual, expected, rtol=rtol, atol=1e-12 * max(scale, 1.0)):
        error = float(np.max(np.abs(actual - expected)))
        return f"max abs error {error:.3g} (largest entry {scale:.3g})"
    return ""


def rss_kib(field_name):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise OSError(f"{field_name} not in /proc/self/status")


def peak_rss_delta_mib(call):
    """Peak resident memory during one call, above the resident memory before it.

    None where /proc cannot reset the peak (not Linux); the call is made all the same.
    """
    set_malloc_thresholds(MEASURE_MEMORY)
    try:
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")  # resets VmHWM, the peak RSS, to the current RSS
            before = rss_kib("VmRSS")
        except OSError:
            call()
            return None
        call()
        return max(rss_kib("VmHWM") - before, 0) / 1024
    finally:
        set_malloc_thresholds(MEASURE_TIME)


def tracemalloc_peak_mib(call):
    """Peak of the memory Python and NumPy allocate during one call (not numba/JAX/torch's)."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def time_calls(call, number):
    start = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - start) / number


class S2sadWorker:
    """A forked process that runs each s2sad method in a child process of its own.

    The worker first warms s2sad up once through the public API (jacrev and jacfwd of a
    small function that is not a workload), then forks one child per method. So a first call
    pays that method's transform and compile, but not s2sad's one-time start-up
    (``cold_warm_cache`` measures that), and no generated derivative compiled for one method
    is reused by the next. The shared kernels and helper implementations (s2sad/backends/numba/kernels.py,
    backends.py) are cached by Numba next to the package, as after any earlier use of s2sad
    on the machine; the cold/warm table's "fresh install" row includes their compile. A crash,
    or a call past the time limit (the child is killed by SIGALRM: a numba compile cannot be
    interrupted safely), ends only that child. These processes never touch JAX or torch.
    """

    def __init__(self, tasks, cfg, cache_root):
        self.tasks = tasks
        self.cfg = cfg
        self.cache_root = cache_root
        self.pid = None
        self.warm_up = None  # {"warm_up_s": ..., "status": ...} once started
        self.broken = False

    def measure(self, task_index, method_index):
        if self.broken:
            task = self.tasks[task_index]
            return bare_row(task, task.methods[method_index], "error: the s2sad worker hung")
        if self.pid is None:
            self._start()
        self.jobs.write(f"{task_index} {method_index}\n")
        self.jobs.flush()
        row = self._receive(4 * self.cfg.first_call_timeout_s + 300)
        if row is None:
            task = self.tasks[task_index]
            row = bare_row(task, task.methods[method_index], "timeout: no answer from the worker")
            self.close()
        return row

    def close(self):
        if self.pid is not None:
            os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.jobs.close()
            self.results.close()
            self.pid = None

    def _receive(self, timeout_s):
        """The next JSON line from the worker, or None if none came (a hang guard only)."""
        ready, _, _ = select.select([self.results], [], [], timeout_s)
        line = self.results.readline() if ready else ""
        return json.loads(line) if line else None

    def _start(self):
        sys.stdout.flush()
        sys.stderr.flush()
        job_read, job_write = os.pipe()
        result_read, result_write = os.pipe()
        with warnings.catch_warnings():  # JAX warns at every fork; these never use JAX
            warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
            pid = os.fork()
        if pid == 0:
            os.setpgid(0, 0)  # its own process group, so that close() also ends its child
            os.close(job_write)
            os.close(result_read)
            self._serve(os.fdopen(job_read), os.fdopen(result_write, "w"))
        os.close(job_read)
        os.close(result_write)
        self.pid = pid
        self.jobs = os.fdopen(job_write, "w")
        self.results = os.fdopen(result_read)
        self.warm_up = self._receive(600)
        if self.warm_up is None:  # hung: give up on s2sad for this run rather than wait again
            self.close()
            self.warm_up = {"status": "timeout: no answer in 600 s"}
            self.broken = True

    def _serve(self, jobs, results):
        """The worker's loop: warm up, then one forked child per job."""
        try:
            gc.callbacks.clear()  # JAX's garbage-collection hook would call into XLA
            warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)  # JAX's, at each fork
            results.write(json.dumps(warm_up_s2sad()) + "\n")
            results.flush()
            expected = {}
            for job in jobs:
                task_index, method_index = map(int, job.split())
                task = self.tasks[task_index]
                if task_index not in expected:
                    expected[task_index] = to_numpy(task.expected())
                row = self._measure_in_child(task, task.methods[method_index], expected[task_index])
                results.write(json.dumps(row) + "\n")
                results.flush()
        finally:
            os._exit(0)  # no clean-up handlers: they belong to the main process

    def _measure_in_child(self, task, method, expected):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            # an empty disk cache: the first call compiles, never loads another method's code
            os.environ["S2SAD_CACHE_DIR"] = tempfile.mkdtemp(dir=self.cache_root)
            try:
                row = measure(task, method, self.cfg, expected, hard_limits=True)
            except BaseException as error:  # noqa: BLE001 - reported, never raised
                row = bare_row(task, method, f"error: {first_line(error)}")
            os.write(write_end, json.dumps(row).encode())
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        if payload:
            return json.loads(payload)
        return bare_row(task, method, self._death(status))

    def _death(self, status):
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
            limit = self.cfg.first_call_timeout_s
            return f"timeout: a call took > {limit:g} s; its process was stopped"
        if os.WIFSIGNALED(status):
            return f"error: crashed with {signal.Signals(os.WTERMSIG(status)).name}"
        return f"error: its process exited with {os.waitstatus_to_exitcode(status)}"


def warm_up_function(a, x):
    """Not a workload: s2sad's one-time start-up is paid on it (see warm_up_s2sad)."""
    return np.tanh(a @ x + 1.0) * x


def warm_up_s2sad():
    """s2sad's one-time start-up, paid once by the worker (not by each method's first call).

    On a function of its own, so that no workload's code is compiled here.
    """
    start = time.perf_counter()
    try:
        import s2sad

        a, x = np.eye(2), np.ones(2)
        s2sad.jacrev(warm_up_function, argnums=1)(a, x)
        s2sad.jacfwd(warm_up_function, argnums=1)(a, x)
        status = "ok"
    except Exception as error:  # noqa: BLE001 - the methods will report their own errors
        status = f"error: {type(error).__name__}: {first_line(error)}"
    return {"warm_up_s": time.perf_counter() - start, "status": status}


def measure(task, method, cfg, expected, hard_limits=False):
    row = {
        "workload": task.workload,
        "task": task.name,
        "family": method.family,
        "method": method.name,
        "note": method.note,
        "status": "ok",
    }
    if method.make is None:
        row["status"] = f"n/a: {method.unavailable}"
        return row
    try:
        with time_limit(cfg.first_call_timeout_s, hard_limits):
            start = time.perf_counter()
            call = method.make()
            result = call()
            row["first_call_s"] = time.perf_counter() - start
        problem = compare(to_numpy(result), expected)
        if problem:
            row["status"] = f"wrong: {problem}"
            return row
    except CallTimeout:
        row["status"] = f"timeout: first call > {cfg.first_call_timeout_s:g} s, interrupted"
        return row
    except Exception as error:  # noqa: BLE001 - every failure becomes a row
        row["status"] = f"error: {type(error).__name__}: {first_line(error)}"
        return row
    try:
        with time_limit(cfg.first_call_timeout_s + row["first_call_s"], hard_limits):
            # the warm-up call; its peak memory is the one reported
            start = time.perf_counter()
            row["peak_rss_delta_mib"] = peak_rss_delta_mib(call)
            warm = time.perf_counter() - start
    except CallTimeout:
        row["status"] = "timeout: second call interrupted"
        return row

    if warm > cfg.max_call_s:
        samples = [warm]
        row["note"] = "; ".join(filter(None, [row["note"], "slow: timed once, not repeated"]))
        row["calls_per_measurement"] = 1
    else:
        number = max(1, int(cfg.measurement_s / time_calls(call, 1)))
        samples = [time_calls(call, number) for _ in range(cfg.repeats)]
        row["calls_per_measurement"] = number
    row["measurements"] = len(samples)
    row["median_us"] = statistics.median(samples) * 1e6
    row["min_us"] = min(samples) * 1e6
    # tracemalloc slows Python-heavy calls severalfold: only for the quick ones
    fast = warm <= cfg.max_call_s / 10
    row["tracemalloc_peak_mib"] = tracemalloc_peak_mib(call) if fast else None
    return row


def run_tasks(tasks, peers, cfg, cache_root):
    rows = []
    s2sad_worker = S2sadWorker(tasks, cfg, cache_root)
    try:
        for task_index, task in enumerate(tasks):
            rows += run_task(task_index, task, peers, cfg, s2sad_worker)
    finally:
        s2sad_worker.close()
    return rows, s2sad_worker.warm_up


def run_task(task_index, task, peers, cfg, s2sad_worker):
    """One row per method of the task (one per task for a peer that is not installed)."""
    rows = []
    expected = to_numpy(task.expected())
    reported_missing = set()
    for method_index, method in enumerate(task.methods):
        peer = FAMILIES[method.family]
        start = time.perf_counter()
        if cfg.quick and method.quick_skip:
            row = bare_row(task, method, f"skipped in --quick: {method.quick_skip}")
        elif peer == "s2sad" and isinstance(peers[peer], str):
            row = bare_row(task, method, f"error: import s2sad failed: {peers[peer]}")
        elif peer is not None and isinstance(peers[peer], str):
            if peer in reported_missing:  # one row per task for a missing peer
                continue
            reported_missing.add(peer)
            row = bare_row(task, method, f"not installed: {peer}: {peers[peer]}", name="-")
        elif peer == "s2sad":
            row = s2sad_worker.measure(task_index, method_index)
        else:
            row = measure(task, method, cfg, expected)
        row["wall_s"] = time.perf_counter() - start  # everything this row cost
        if task.note:
            row["task_note"] = task.note
        rows.append(row)
        print(
            f"  {task.workload:4} {task.name[:40]:40} {method.family:12} "
            f"{method.name[:36]:36} {format_us(row.get('median_us')):>10} us "
            f"{row['wall_s']:6.1f} s  {row['status'][:50]}",
            file=sys.stderr,
            flush=True,
        )
    add_limit_ratios(rows)
    return rows


def bare_row(task, method, status, name=None):
    return {
        "workload": task.workload,
        "task": task.name,
        "family": method.family,
        "method": method.name if name is None else name,
        "note": "",
        "status": status,
    }


def add_limit_ratios(rows):
    """vs_limit = median / the fastest closed form compiled with numba."""
    limits = [r["median_us"] for r in rows if r["family"] == "limit" and "median_us" in r]
    if not limits:
        return
    for row in rows:
        if "median_us" in row:
            row["vs_limit"] = row["median_us"] / min(limits)


# --- s2sad's disk cache: first call in a fresh process, cold and warm ---------------------------

COLD_WARM_SCRIPT = """
import json, os, sys, time
start = time.perf_counter()
import numpy as np
import s2sad
import workloads as wl
if os.path.exists(os.path.join(sys.argv[1], "forecast.py")):
    sys.path.insert(0, sys.argv[1])
    from forecast import predict  # the example's own function (its demo runs only as __main__)
    source = "examples/forecast.py"
else:
    predict, source = wl.predict, "benchmarks/workloads.py (examples/forecast.py not found)"
imported = time.perf_counter()
args = wl.predict_inputs(16, 16)
jac = s2sad.jacrev(predict, argnums=2)(*args)
done = time.perf_counter()
print(json.dumps({"import_s": imported - start, "first_call_s": done - imported, "source": source,
                  "correct": bool(np.allclose(jac, wl.predict_jac_x_numpy(*args)))}))
"""


def cold_warm_cache(threads):
    """jacrev of the forecast example's predict (D=16) in fresh processes: as on a fresh
    install (every cache empty, Numba's included: the shared kernels compile too), with an
    empty S2SAD_CACHE_DIR (kernels already cached, as after any earlier use), then warm."""
    cache = tempfile.mkdtemp(prefix="s2sad-bench-coldwarm-")
    fresh = tempfile.mkdtemp(prefix="s2sad-bench-fresh-")
    base = dict(
        os.environ,
        **thread_env(threads),
        PYTHONPATH=os.pathsep.join([HERE, REPO, os.environ.get("PYTHONPATH", "")]),
    )
    envs = {
        "fresh install": dict(
            base, S2SAD_CACHE_DIR=os.path.join(fresh, "s2sad"), NUMBA_CACHE_DIR=os.path.join(fresh, "numba")
        ),
        "cold": dict(base, S2SAD_CACHE_DIR=cache),
        "warm": dict(base, S2SAD_CACHE_DIR=cache),
    }
    command = [sys.executable, "-c", COLD_WARM_SCRIPT, os.path.join(REPO, "examples")]
    runs = []
    try:
        for state, env in envs.items():
            start = time.perf_counter()
            try:
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
            except subprocess.TimeoutExpired:
                runs.append({"cache": state, "status": "timeout: > 300 s"})
                continue
            wall = time.perf_counter() - start
            if done.returncode != 0:
                last = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
                runs.append({"cache": state, "status": f"error: {first_line(last[0])}"})
                continue
            run = json.loads(done.stdout.strip().splitlines()[-1])
            status = "ok" if run.pop("correct") else "wrong result"
            runs.append(dict(run, cache=state, process_s=wall, status=status))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(fresh, ignore_errors=True)
    return runs


# --- the tape's memory per loop trip -------------------------------------------------------------

TAPE_SCRIPT = """
import ctypes, json, sys
libc = ctypes.CDLL("libc.so.6")
libc.mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD: as peak_rss_delta_mib
libc.mallopt(-1, 1 << 16)
import numpy as np
import s2sad
import workloads as wl


def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024


def peak(call):
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = rss("VmRSS")
    call()
    return rss("VmHWM") - before


y0, p = wl.rk4_inputs()
cases = [
    ("W9 RK4 jacrev", lambda: s2sad.jacrev(wl.rk4_pendulums, argnums=(0, 1)),
     lambda n: (y0, p, wl.RK4_DT, n), (1000, 5000)),
    ("W9 RK4 jacfwd (no tape)", lambda: s2sad.jacfwd(wl.rk4_pendulums, argnums=(0, 1)),
     lambda n: (y0, p, wl.RK4_DT, n), (1000, 5000)),
    ("W10 Huber loop grad", lambda: s2sad.grad(wl.huber_loop),
     lambda n: (wl.huber_inputs(n), wl.HUBER_DELTA), (100000, 500000)),
]
name, make, args_for, trips = cases[int(sys.argv[1])]
n = trips[int(sys.argv[2])]
g = make()
g(*args_for(10))  # compile, or load from the cache
print(json.dumps({"case": name, "trips": n, "peak_bytes": peak(lambda: g(*args_for(n)))}))
"""


def tape_memory(threads, n_cases=3):
    """Bytes the derivative holds per loop trip (numba backend): the peak RSS of its first
    call at two trip counts, each in a fresh process that loads the compiled code from the
    cache; the difference over the extra trips."""
    env = dict(
        os.environ, **thread_env(threads), PYTHONPATH=os.pathsep.join([HERE, REPO, os.environ.get("PYTHONPATH", "")])
    )
    runs = []
    for case in range(n_cases):
        found = []
        # the first process compiles (whose freed memory would hold a small tape unseen); the
        # measured ones load the compiled code from the cache
        for size in (0, 0, 1):
            try:
                done = subprocess.run(
                    [sys.executable, "-c", TAPE_SCRIPT, str(case), str(size)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                found.append({"status": "timeout: > 300 s"})
                continue
            if done.returncode != 0:
                last = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
                found.append({"status": f"error: {first_line(last[0])}"})
                continue
            found.append(dict(json.loads(done.stdout.strip().splitlines()[-1]), status="ok"))
        bad = [f["status"] for f in found if f["status"] != "ok"]
        if bad:
            runs.append({"case": f"case {case}", "status": bad[0]})
            continue
        _, small, large = found
        runs.append(
            {
                "case": small["case"],
                "trips": [small["trips"], large["trips"]],
                "peak_bytes": [small["peak_bytes"], large["peak_bytes"]],
                "status": "ok",
                "bytes_per_trip": (large["peak_bytes"] - small["peak_bytes"]) / (large["trips"] - small["trips"]),
            }
        )
    return runs


# --- output ------------------------------------------------------------------------------------


def format_us(value):
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f} s"
    if value >= 100:
        return f"{value:,.0f}".replace(",", " ")
    return f"{value:.3g}"


def format_number(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def format_ratio(value):
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}".replace(",", " ")


def s2sad_warm_up_text(warm_up):
    if warm_up is None:
        return "no s2sad method was run"
    seconds = warm_up.get("warm_up_s")
    took = f"{seconds:.2f} s, " if seconds is not None else ""
    return (
        "each method runs in a child of a worker process that first called jacrev and jacfwd "
        f"of a small non-workload function (the one-time start-up, in no first call: {took}"
        f"{warm_up['status']})"
    )


def markdown(rows, meta, cache_runs, tape_runs=None):
    lines = [
        "# s2sad benchmark" + (" (--quick)" if meta["quick"] else ""),
        "",
        f"- threads: {meta['threads']} for every method ({meta['thread_env']})",
        f"- machine: {meta['machine']}; Python {meta['python']}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
        f"- time: median per call over {meta['repeats']}+ measurements after a warm-up call "
        "(a measurement repeats the call until it lasts "
        f"{meta['measurement_s'] * 1e3:g} ms); methods slower than {meta['max_call_s']:g} s "
        f"per call are timed once; a first call over {meta['first_call_timeout_s']:g} s is "
        "stopped",
        "- x limit: median / the fastest closed form compiled with numba (the limit)",
        "- first call: transform + compile + one call (JAX, torch and numba already started "
        "by earlier rows); s2sad: each method in a child process of its own with an empty "
        "S2SAD_CACHE_DIR (killed past the time limit, as a numba compile cannot be "
        "interrupted); the shared kernels it calls are in Numba's cache from earlier use; "
        "s2sad's first call in a fresh process, a fresh install included, is in the cold/warm table",
        f"- s2sad: {s2sad_warm_up_text(meta.get('s2sad_warm_up'))}",
        "- peak MiB: peak RSS (VmHWM, reset before the call) minus RSS before, during one warm "
        "call, with glibc's mmap and trim thresholds at 64 KiB; times are taken with them at "
        "32 MiB (the ceiling of glibc's dynamic threshold in a long-running process)"
        + ("" if meta["malloc_fixed"] else " (mallopt failed: memory may be under-reported)")
        + "; tracemalloc peak (NumPy/Python allocations only) is in the JSON",
        "- every result is checked against the closed form in NumPy (rtol 1e-6) before it is "
        "timed; a wrong result is never timed",
        "",
        "| workload | task | family | method | µs/call | x limit | first call s | peak MiB | status |",
        "|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    skipped = [row for row in rows if row["status"].startswith("skipped")]
    for row in rows:
        if row in skipped:
            continue
        status = row["status"] + (f" ({row['note']})" if row.get("note") else "")
        lines.append(
            f"| {row['workload']} | {row['task']} | {row['family']} | {row['method']} "
            f"| {format_us(row.get('median_us'))} | {format_ratio(row.get('vs_limit'))} "
            f"| {format_number(row.get('first_call_s'), 3)} "
            f"| {format_number(row.get('peak_rss_delta_mib'))} | {status.replace('|', '/')} |"
        )
    if skipped:
        lines += ["", f"{len(skipped)} methods skipped by --quick are listed in the JSON."]
    task_notes = {(r["workload"], r["task"]): r["task_note"] for r in rows if r.get("task_note")}
    for (workload, task), note in task_notes.items():
        lines += ["", f"{workload} {task}: {note}"]
    if cache_runs is not None:
        lines += [
            "",
            "## s2sad first call in a fresh process: fresh install, empty vs warm S2SAD_CACHE_DIR",
            "",
            "jacrev of predict w.r.t. x, D=16, predict from "
            f"{cache_runs[0].get('source', '?') if cache_runs else '?'}; each run is a new "
            "Python process (import, transform, compile or load, one call)",
            "",
            "| cache | import numpy + s2sad, s | first call, s | whole process, s | status |",
            "|---|---:|---:|---:|---|",
        ]
        for run in cache_runs:
            lines.append(
                f"| {run['cache']} | {format_number(run.get('import_s'), 3)} "
                f"| {format_number(run.get('first_call_s'), 3)} "
                f"| {format_number(run.get('process_s'), 3)} | {run['status']} |"
            )
    if tape_runs is not None:
        lines += [
            "",
            "## s2sad tape memory per loop trip (numba)",
            "",
            "peak RSS of one call (glibc thresholds at 64 KiB) at two trip counts, each in a fresh "
            "process loading the compiled code from the cache; bytes per trip = the difference / "
            "the extra trips",
            "",
            "| case | trips | peak MiB | bytes per trip | status |",
            "|---|---|---|---:|---|",
        ]
        for run in tape_runs:
            trips = " / ".join(str(n) for n in run.get("trips", [])) or "-"
            peaks = " / ".join(format_number(b / 2**20, 2) for b in run.get("peak_bytes", [])) or "-"
            per = run.get("bytes_per_trip")
            lines.append(
                f"| {run['case']} | {trips} | {peaks} | {'-' if per is None else f'{per:,.0f}'} | {run['status']} |"
            )
    return "\n".join(lines)


CHART_STYLE = {  # family -> (colour, marker)
    "limit": ("black", "|"),
    "closed form": ("grey", "s"),
    "s2sad numba": ("tab:red", "o"),
    "s2sad python": ("lightcoral", "o"),
    "JAX jit": ("tab:blue", "D"),
    "JAX no jit": ("lightblue", "D"),
    "torch.func": ("tab:orange", "^"),
    "autograd": ("tab:green", "v"),
    "tangent": ("tab:purple", "P"),
}


def failed(row):
    return row["status"].startswith(("error", "timeout", "wrong"))


def chart(rows, meta, path):
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys((r["workload"], r["task"]) for r in rows))
    families = list(CHART_STYLE)
    fig, ax = plt.subplots(figsize=(12, 0.55 * len(tasks) + 2))
    labelled = set()
    for y, (_, task) in enumerate(tasks):
        task_rows = [r for r in rows if r["task"] == task]
        timed = [r["vs_limit"] for r in task_rows if "vs_limit" in r]
        for row in task_rows:
            # each family on its own line within the task's band
            offset = 0.6 * (families.index(row["family"]) / (len(families) - 1) - 0.5)
            if "vs_limit" in row:
                colour, marker = CHART_STYLE[row["family"]]
                label = row["family"]
                x = row["vs_limit"]
            elif row["family"].startswith("s2sad") and failed(row) and timed:
                # s2sad without a time (error, timeout, wrong): marked right of the task's points
                colour, marker, label = "tab:red", "x", "s2sad: no time (see table)"
                x = max(timed) * 3
            else:
                continue
            ax.scatter(
                x,
                y + offset,
                color=colour,
                marker=marker,
                s=30,
                label=None if label in labelled else label,
                zorder=3,
                alpha=0.85,
            )
            labelled.add(label)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.axvline(2.0, color="tab:red", linewidth=0.8, linestyle="--", label="2x the limit (target)")
    ax.set_xscale("log")
    ax.set_yticks(range(len(tasks)))
    labels = [textwrap.fill(f"{w} {t}", 38) for w, t in tasks]
    ax.set_yticklabels(labels, fontsize=7.5)
    ax.set_ylim(len(tasks) - 0.5, -0.5)
    for y in range(len(tasks) - 1):
        ax.axhline(y + 0.5, color="grey", linewidth=0.4, alpha=0.5)
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.set_xlabel("time per call / the limit (closed form compiled with numba); log scale")
    ax.set_title(
        f"s2sad benchmark{' (--quick)' if meta['quick'] else ''}: "
        f"{meta['threads']} thread(s) for every method, {meta['machine']}",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def versions(peers):
    import importlib.metadata

    found = {"numpy": np.__version__}
    distributions = {"tangent": "tangent-ad"}  # where the import name is not the package's
    for name in ("numba", "s2sad", "jax", "torch", "autograd", "tangent"):
        module = peers.get(name)
        if isinstance(module, str):
            found[name] = "missing"
            continue
        try:
            found[name] = importlib.metadata.version(distributions.get(name, name))
        except importlib.metadata.PackageNotFoundError:  # e.g. s2sad run from the checkout
            found[name] = getattr(module, "__version__", "?")
    return found


def main(args):
    cfg = QUICK if args.quick else FULL
    if args.timeout:
        cfg = dataclasses.replace(cfg, first_call_timeout_s=args.timeout)
    # s2sad's disk cache for this run starts empty (set before s2sad is imported)
    cache_root = tempfile.mkdtemp(prefix="s2sad-bench-cache-")
    os.environ["S2SAD_CACHE_DIR"] = cache_root
    started = time.perf_counter()
    try:
        peers = import_peers(args.threads)
        meta = {
            "quick": cfg.quick,
            "threads": args.threads,
            "thread_env": " ".join(f"{k}={v}" for k, v in thread_env(args.threads).items()),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
            "python": platform.python_version(),
            "versions": versions(peers),
            "repeats": cfg.repeats,
            "measurement_s": cfg.measurement_s,
            "max_call_s": cfg.max_call_s,
            "first_call_timeout_s": cfg.first_call_timeout_s,
            "malloc_fixed": MALLOC_FIXED,
            "memory": "peak RSS delta over one warm call (VmHWM reset via /proc/self/clear_refs)",
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        tasks = [
            t
            for t in all_tasks(peers, cfg)
            if (not args.only or t.workload in args.only) and not (cfg.quick and t.full_only)
        ]
        print(f"{len(tasks)} tasks, threads={args.threads}", file=sys.stderr)
        rows, meta["s2sad_warm_up"] = run_tasks(tasks, peers, cfg, cache_root)
        cache_runs = tape_runs = None
        if not args.no_cache_check:
            print("  s2sad cold/warm cache ...", file=sys.stderr, flush=True)
            cache_runs = cold_warm_cache(args.threads)
            print("  s2sad tape memory ...", file=sys.stderr, flush=True)
            tape_runs = tape_memory(args.threads)
        scale_out = None
        if not args.no_scale_out and not args.only:
            print("  per-sample gradients, one process and Dask ...", file=sys.stderr, flush=True)
            import scale_out as scale

            scale_out = scale.measure(samples=100_000 if cfg.quick else 1_000_000)
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)
    meta["total_s"] = time.perf_counter() - started
    print(markdown(rows, meta, cache_runs, tape_runs))
    if scale_out is not None:
        print("\n" + scale.markdown(scale_out))
    print(f"\ntotal: {meta['total_s']:.1f} s")
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as out:
        json.dump(
            {
                "meta": meta,
                "rows": rows,
                "cold_warm_cache": cache_runs,
                "tape_memory": tape_runs,
                "scale_out": scale_out,
            },
            out,
            indent=1,
        )
    if rows:
        chart(rows, meta, args.png)
        print(f"wrote {args.json} and {args.png}", file=sys.stderr)
    else:
        print(f"wrote {args.json}; no rows, no chart", file=sys.stderr)


if __name__ == "__main__":
    main(ARGS)
