"""Test configuration: CUDA kernels run on the simulator unless NUMBA_ENABLE_CUDASIM=0 is set
(on a machine with an NVIDIA GPU, to run the same tests on the device)."""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
