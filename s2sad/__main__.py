"""Command line: ``python -m s2sad show FILE.py:FUNC [--mode jacrev] [--argnums 0,2] [--shapes ...]``.

Prints the generated derivative source. The source is specialized for argument ranks; by
default every parameter is taken to be a float64 vector (``--shapes "x=3,W=3x3,c=scalar"``
says otherwise).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

import numpy as np

from . import api
from .errors import S2SADError

MODES = ("jacrev", "jacfwd", "grad", "value_and_grad", "hessian", "jvp", "vjp")


def _load(target):
    path, _, func = target.rpartition(":")
    if not path or not func:
        raise SystemExit(f"expected FILE.py:FUNC, got {target!r}")
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec.loader.exec_module(module)
    try:  # FUNC may be a lambda's name, or obj.method (a bound method of a module-level object)
        value = module
        for part in func.split("."):
            value = getattr(value, part)
        return value
    except AttributeError:
        raise SystemExit(f"{path} has no function {func!r}") from None


def _example(spec):
    if spec in ("scalar", "float", ""):
        return 0.5
    if spec == "int":
        return 3
    shape = tuple(int(n) for n in spec.split("x"))
    return np.full(shape, 0.5)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m s2sad", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print the generated derivative source")
    show.add_argument("target", help="FILE.py:FUNC")
    show.add_argument("--mode", choices=MODES, default="jacrev")
    show.add_argument("--argnums", default="0", help="e.g. 0 or 0,2")
    show.add_argument("--shapes", default="", help='e.g. "x=3,W=3x3,c=scalar" (default: vectors of 3)')
    args = parser.parse_args(argv)

    fn = _load(args.target)
    nums = tuple(int(n) for n in args.argnums.split(","))
    argnums = nums[0] if len(nums) == 1 else nums
    shapes = dict(item.split("=") for item in args.shapes.split(",") if item)
    from .frontend.parse import param_names

    try:
        params = param_names(fn)
    except S2SADError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    unknown = [name for name in shapes if name not in params]
    if unknown:
        print(
            f"error: --shapes names {', '.join(map(repr, unknown))}, not a parameter of {args.target} "
            f"(its parameters: {', '.join(params)})",
            file=sys.stderr,
        )
        return 2
    try:
        examples = tuple(_example(shapes.get(p, "3")) for p in params)
    except ValueError:
        print(
            f"error: --shapes {args.shapes!r}: write each as name=3, name=3x4, name=scalar or name=int", file=sys.stderr
        )
        return 2
    try:
        if args.mode in ("jvp", "vjp"):
            g = api.Transformed(fn, args.mode, nums if args.mode == "jvp" else nums, "python")
        else:
            g = getattr(api, args.mode)(fn, argnums, backend="python")
        if args.mode == "jvp":
            g.argnums = nums
            ir = g.ir_for(tuple(examples), False, g.arg_shapes(examples))
        elif args.mode == "vjp":
            ir = g.ir_for(tuple(examples), False, g.arg_shapes(examples))
        else:
            print(api.source(g, *examples), end="")
            return 0
        from .pipeline import emit

        print(emit(ir), end="")
    except S2SADError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
