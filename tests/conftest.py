"""Test configuration: CUDA kernels run on the simulator unless NUMBA_ENABLE_CUDASIM=0 is set
(on a machine with an NVIDIA GPU, to run the same tests on the device).

Markers (pyproject.toml): ``numba`` (compiles with the numba backend), ``cuda`` (runs
numba.cuda kernels, on the simulator here), ``slow``; ``-m "not numba and not slow"`` runs
the quick part. A test parametrized over ``backend`` gets the marker of its backend here;
other tests carry theirs in their module (``pytestmark``) or on the function."""

import os

import pytest

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

_BACKEND_MARKERS = {"numba": pytest.mark.numba, "cuda": pytest.mark.cuda}


def pytest_collection_modifyitems(items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec is not None else None
        if isinstance(backend, str) and backend in _BACKEND_MARKERS:
            item.add_marker(_BACKEND_MARKERS[backend])
