"""The public transformations: grad, jacfwd, jacrev, hessian, jvp, vjp, hvp, source.

Every transformation returns a ``Transformed``: a callable that, per argument signature
(ranks and dtypes), builds the derivative IR (pipeline.py), emits its source and compiles
it. A ``Transformed`` is itself accepted by every transformation, because its IR is
ordinary IR: ``hessian(f)`` is ``jacfwd(jacrev(f))``.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import threading

import numpy as np

from . import failures, pipeline
from .ad.trace import dummy_like
from .analysis import sizes
from .backends.numba import scalarize
from .backends.numba.scalarize import LIMIT as SMALL
from .errors import S2SADError, StructureMiss, UsageError
from .frontend.parse import _defaults, binding, code_of, param_names
from .options import Options


def _check_argnums(argnums, nargs, name):
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    for k in nums:
        if not isinstance(k, numbers.Integral):
            raise UsageError(f"{name}: argnums must be an int or a tuple of ints, got {argnums!r}")
        if not -nargs <= k < nargs:
            raise UsageError(
                f"{name}: argnums={argnums!r} is out of range for a function of {nargs} "
                f"positional argument{'s' if nargs != 1 else ''}"
            )
    return tuple(k % nargs for k in nums)


def _check_float(value, k, fname):
    dtype = np.asarray(value).dtype
    if dtype.kind != "f":
        raise UsageError(
            f"{fname}: argument {k} is differentiated but has dtype {dtype}; pass a float array "
            "(e.g. x.astype(np.float64)) or leave it out of argnums"
        )


def _float_dtype(args, nums):
    dtypes = [np.asarray(args[k]).dtype for k in nums]
    return np.result_type(*dtypes) if dtypes else np.dtype(np.float64)


def _finish(value, dtype, owner=None):
    """Results as the API promises: arrays of the inputs' float dtype, Python floats for scalars.
    A complex result (a value-dependent function such as np.emath.sqrt made one at run time)
    is refused, naming ``owner``'s function."""
    if isinstance(value, tuple):
        return tuple(_finish(v, dtype, owner) for v in value)
    if isinstance(value, (complex, np.complexfloating)) or isinstance(value, np.ndarray) and value.dtype.kind == "c":
        raise _complex_result(owner)
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return float(value)
        if value.dtype.kind == "f" and value.dtype != dtype:
            return value.astype(dtype)
        if not value.flags.writeable:
            return value.copy()
        return value
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def _complex_result(owner):
    from .errors import UnsupportedError, where

    fn = base_function(owner) if owner is not None else None
    code = code_of(fn)
    at = where(code.co_filename, code.co_firstlineno) if code is not None else "<unknown>"
    return UnsupportedError(
        f"{at}: {getattr(owner, '__name__', 'the function')} computed complex values at run time (np.emath, "
        "np.lib.scimath, or data read from a complex source): complex values are outside what s2sad "
        "differentiates; nothing was returned"
    )


class Transformed:
    """A function transformed by s2sad: call it, read its ``source``, transform it again.

    ``options`` (an ``Options``; by default ``Options.from_env()``, as the environment sets
    them when the transformation is made), changed by the keywords given (``structure=False``,
    ``dump_after="simplify"``): the passes it runs on its own code (a transformation it
    transforms keeps its own). Its caches are keyed on them.

    Why one class over 300 lines: the public callable and its caches per signature (IR, build,
    compiled code, call plans), whose keys and locks its methods share."""

    def __init__(self, fn, kind, argnums=0, backend="numba", options=None, **changes):
        self.fn = fn
        self.kind = kind
        self.argnums = argnums
        self.backend = backend
        self._lock = threading.RLock()
        self._plans = {}
        self.options = _options(options, changes)
        self._compiled = {}
        self._builds = {}
        self._irs = {}
        self._last_key = None
        self._plain = set()  # signatures whose structured code met a size-1 axis (structure.py)
        self._free_keys = {}  # argument key -> the key of the free values its code was built for
        functools.update_wrapper(self, fn, updated=())
        self.__name__ = f"{getattr(fn, '__name__', 'f')}_{kind}"

    def __repr__(self):
        return f"<s2sad.{self.kind} of {getattr(self.fn, '__name__', self.fn)!r}>"

    def __reduce__(self):
        # by reference to the user's function and the options: a worker process rebuilds the
        # transformation and loads the compiled code from the cache folder (or compiles it);
        # locks, IR and compiled objects stay in this process
        return (Transformed, (self.fn, self.kind, self.argnums, self.backend), {"options": self.options})

    def __setstate__(self, state):
        self.options = state["options"]

    @property
    def options(self) -> Options:
        return self._options

    @options.setter
    def options(self, options):
        """New options: code is built and compiled with them from the next call on."""
        if isinstance(options, dict):  # pickled by a version whose options were keywords
            options = _options(None, options)
        if not isinstance(options, Options):
            raise UsageError(f"options must be an s2sad Options, got {options!r}")
        with self._lock:
            self._options = options
            self._plans.clear()  # plans are keyed on arguments only

    @property
    def nargs(self):
        return len(param_names(base_function(self)))  # raises SourceError naming what fn is

    def call_extended(self, primals, args):
        """Call with extra (tangent/cotangent) arguments after the primals (jvp, vjp, hvp)."""
        if len(primals) != self.nargs:
            raise TypeError(
                f"{getattr(base_function(self), '__name__', 'f')}() takes {self.nargs} positional "
                f"arguments but {len(primals)} were given"
            )
        if any(isinstance(a, list) or _is_zero_d(a) for a in args):
            self.check_arg_types(primals)
            zero_d = [k for k, a in enumerate(primals) if _is_zero_d(a)]
            if zero_d:
                self._refuse_zero_d_writes(zero_d)
            args = tuple(_as_value(a) for a in args)
            primals = args[: len(primals)]
        self._check_overlap(primals)
        args = self._detached(args)
        compiled = self._compiled_for(args)[2]
        try:
            try:
                out = compiled(*args, *self._free_values(_arg_key(args)))
            except StructureMiss:
                self._fall_back(args)
                out = self._compiled_for(args)[2](*args, *self._free_values(_arg_key(args)))
        except Exception as exc:
            raise self._run_failure(exc, primals) from exc
        nums = self.argnums if isinstance(self.argnums, tuple) else ()
        return _finish(out, _float_dtype(primals, nums or range(len(primals))), self)

    # --- IR per signature --------------------------------------------------------------------

    def ir_for(self, dummies: tuple, plain=False, arg_shapes=None):
        """The typed IR of this transformation for arguments with these dummies (``plain``:
        without the structure pass, see pipeline.build; ``arg_shapes``: their shapes, for a
        function whose code depends on sizes, see sizes.py)."""
        key = (_key(dummies), plain, arg_shapes, self._options)
        with self._lock:
            ir = self._irs.get(key)
            if ir is None:
                try:
                    ir = pipeline.build(self, dummies, plain, arg_shapes)
                except Exception as exc:
                    raise failures.from_pass(exc, base_function(self), f"building {self.__name__}") from exc
                self._irs[key] = ir
        return ir

    def check_args(self, args):
        fn = base_function(self)
        if code_of(fn) is not None:
            pipeline.user_ir(fn)  # unsupported syntax is reported before arity
        nargs = self.nargs
        if len(args) != nargs:
            defaults = ""
            if len(args) < nargs:
                missing = [p for p in binding(fn).params[len(args) :] if p not in _defaults(binding(fn).function)]
                defaults = f" (missing: {', '.join(map(repr, missing))})" if missing else ""
            raise TypeError(
                f"{self.__name__}() takes {nargs} positional argument{'s' if nargs != 1 else ''} "
                f"but {len(args)} were given{defaults}"
            )
        nums = _check_argnums(self.argnums, nargs, self.kind) if self.argnums is not None else ()
        self.check_arg_types(args)
        for k in nums:
            _check_float(args[k], k, self.kind)
        return nums

    def check_arg_types(self, args):
        """Refuse, naming the user's ``def`` line and the parameter, an argument s2sad does not
        take: anything but NumPy arrays, Python/NumPy scalars, None, strings, and tuples of
        those (dicts, sets, objects); complex values; a list that is not a flat list of real
        numbers or arrays of one shape, or one that the function treats as a list (an operator
        on it: ``+`` concatenates lists), since s2sad converts it with ``np.asarray``."""
        fn = base_function(self)
        if code_of(fn) is None:
            return
        for k, a in enumerate(args):
            problem = _argument_problem(a)
            if problem is None and isinstance(a, list):
                problem = _list_problem(fn, k, a)
            if problem is not None:
                raise _argument_error(fn, k, problem)

    def _compiled_for(self, args):
        """(ir, source, compiled, by_shape) for these arguments; ``by_shape``: the compiled
        code is specialized on the shapes of small arguments (scalarize.py)."""
        # a function that writes into its arguments gets code without the structure pass's
        # guards: a guard that fails after such a write would rerun it on changed arguments
        plain = bool(self._plain) and _arg_key(args) in self._plain or bool(self._written_params())
        key = (_arg_key(args), self._shapes_key()(args), plain, self._options)
        entry = self._compiled.get(key)
        if entry is not None:  # the fast path of jvp, vjp and hvp calls after the first
            self._last_key = key
            return entry
        self.check_arg_types(args)
        dummies = tuple(dummy_like(a) for a in args)
        with self._lock:
            entry = self._compiled.get(key)
            if entry is None:
                try:
                    entry = self._build(args, dummies, plain)
                except Exception as exc:
                    raise failures.from_pass(exc, base_function(self), f"building {self.__name__}") from exc
                self._compiled[key] = entry
            self._last_key = key
        return entry

    def _depends_on_sizes(self) -> bool:
        """Is this function's code built per shape of its arguments (sizes.py)? Read from its
        source once, at the first call (a transformation is made without parsing)."""
        sized = getattr(self, "_sized", None)
        if sized is None:
            sized = self._sized = pipeline.needs_sizes(self)
        return sized

    def _shapes_key(self):
        """What the code is keyed on beyond ranks and dtypes: every argument's shape for a
        function whose code depends on sizes, else the small arguments' shapes (they matter
        only where scalarize specializes on them)."""
        return sizes.shapes_of if self._depends_on_sizes() else _shape_key

    def arg_shapes(self, args):
        """The shapes of ``args`` where this function's code depends on them (sizes.py)."""
        return sizes.shapes_of(args) if self._depends_on_sizes() else None

    def _build(self, args, dummies, plain):
        arg_shapes = self.arg_shapes(args)
        ir = self.ir_for(dummies, plain, arg_shapes)
        spec = scalarize.spec_of(ir, args) if self.backend == "numba" else None
        build_key = (
            _key(dummies),
            spec,
            plain,
            arg_shapes,
            self._options,
        )  # small shapes matter only where specialized
        entry = self._builds.get(build_key)
        if entry is None:
            source = pipeline.emit(ir)
            compiled = pipeline.compile(ir, self.backend, spec, self._options)
            if arg_shapes is not None:
                by_shape = sizes.shapes_of
            else:
                by_shape = _shape_key if self.backend == "numba" and scalarize.wanted(ir) else None
            entry = (ir, source, compiled, by_shape)
            self._builds[build_key] = entry
        return entry

    def __call__(self, *args):
        key = _arg_key(args)
        plan = self._plans.get(key)
        if plan is not None and plan[4]:  # compiled per shape (of the small arguments, or all)
            plan = self._plans.get((key, plan[4](args)))
        if plan is None or len(args) != plan[3]:
            full = self._with_defaults(args)
            if full is not args:
                return self(*full)
            plan = self._plan(args)
        compiled, free, dtype, _, _ = plan
        try:
            out = compiled(*args, *free()) if free else compiled(*args)
        except StructureMiss:
            self._fall_back(args)
            return self(*args)
        except Exception as exc:
            raise self._run_failure(exc, args) from exc
        if type(out) is np.ndarray and out.dtype == dtype and out.ndim and out.flags.writeable:
            return out  # the common case, without the generic conversion
        return _finish(out, dtype, self)

    def _with_defaults(self, args):
        """``args`` completed with the default values of the parameters left out, as Python
        would call the function (``def f(x, c=2.0)`` called as ``g(x)``); ``args`` itself if
        none is left out or one left out has no default (check_args says which)."""
        fn = base_function(self)
        if code_of(fn) is None:
            return args
        bound = binding(fn)
        missing = bound.params[len(args) :]
        defaults = _defaults(bound.function)
        if not missing or any(p not in defaults for p in missing):
            return args
        return tuple(args) + tuple(defaults[p] for p in missing)

    def _free_values(self, key):
        """The globals and closure values the function reads, now; refused if one changed
        its type (rank, dtype) since code was built for them (that code would be stale)."""
        values = pipeline.free_values(self)
        if not values:
            return values
        now = _arg_key(values)
        seen = self._free_keys.setdefault(key, now)
        if now != seen:
            from .errors import UnsupportedError, where

            fn = base_function(self)
            names = [name for _, name in pipeline.user_ir(fn).free_sources]
            changed = [n for n, a, b in zip(names, seen, now) if a != b]
            code = code_of(fn)
            raise UnsupportedError(
                f"{where(code.co_filename, code.co_firstlineno)}: the global or closure value "
                f"{', '.join(map(repr, changed))} changed its type (rank or dtype) since {self.__name__} was compiled "
                "for it: transform the function again (s2sad specializes on the types of what it reads)"
            )
        return values

    def _written_params(self):
        """Indices of the parameters the user's function may write into (semantics.py)."""
        written = getattr(self, "_written", None)
        if written is None:
            from .analysis import semantics

            fn = base_function(self)
            written = tuple(semantics.written_params(pipeline.user_ir(fn))) if code_of(fn) is not None else ()
            self._written = written
        return written

    def _detached(self, args):
        """``args`` with copies of the arrays the function writes into, for a derivative: a
        transformation is a function of the point, and leaves the caller's arrays as they
        were (forward and reverse mode alike; a retry after a failed guard sees the same
        point). The primal itself (vmap's per-sample function) writes as NumPy does."""
        written = self._written_params()
        if not written or self.kind == "primal":
            return args
        return tuple(np.copy(a) if k in written and isinstance(a, np.ndarray) else a for k, a in enumerate(args))

    def _check_overlap(self, args):
        """Refuse a call that passes arrays sharing memory for two parameters when the
        function writes into one of them: NumPy's write would be seen through the other
        name, the derivative (two separate values) would not see it."""
        written = self._written_params()
        if not written:
            return
        arrays = [(k, a) for k, a in enumerate(args[: self.nargs]) if isinstance(a, np.ndarray)]
        for k in written:
            a = args[k] if k < len(args) else None
            if not isinstance(a, np.ndarray):
                continue
            for j, b in arrays:
                if j != k and np.may_share_memory(a, b):
                    fn = base_function(self)
                    raise _argument_error(
                        fn,
                        k,
                        (
                            f"shares memory with argument {param_names(fn)[j]!r}, and the function writes into it",
                            "the derivative treats arguments as separate arrays: pass a copy (np.copy) for one of them",
                        ),
                    )

    def _run_failure(self, exc, primals):
        """What to raise for an exception from the compiled code: a Numba compile failure, the
        user's own error (their function raises it too), or an InternalError (failures.py)."""
        compiled = pipeline.compile_failure(exc, self.__name__)
        fn = base_function(self)
        code = code_of(fn)
        if compiled is not None:
            return failures.located_compile_failure(compiled, exc, code)
        return failures.from_generated_code(
            exc, self.__name__, fn, primals[: self.nargs], code.co_filename if code else None
        )

    def _fall_back(self, args):
        """The structured code of this signature met a size-1 axis it does not cover (its
        guard raised before anything was returned): use code built without the structure
        pass for the signature from now on."""
        key = _arg_key(tuple(_as_value(a) for a in args))  # the key _compiled_for sees
        if key in self._plain:
            raise S2SADError(f"internal: {self.__name__}: code built without structure raised StructureMiss")
        with self._lock:
            self._plain.add(key)
            self._plans.clear()

    def _plan(self, args):
        """Check the arguments, compile for their signature, and remember how to call."""
        key = _arg_key(args)
        nums = self.check_args(args)
        zero_d = [k for k, a in enumerate(args) if _is_zero_d(a)]
        if zero_d:
            self._refuse_zero_d_writes(zero_d)
        converted = tuple(_as_value(a) for a in args)
        _, _, compiled, by_shape = self._compiled_for(converted)
        dtype = _float_dtype(converted, nums or range(len(converted)))
        has_free = bool(pipeline.user_ir(base_function(self)).free_values)
        free = functools.partial(self._free_values, key) if has_free else None
        if zero_d or any(isinstance(a, list) for a in args):
            # lists as arrays, 0-d arrays as scalars of their dtype (only plans for such
            # arguments convert: the key of a 0-d array differs from a scalar's)
            inner = compiled
            compiled = lambda *a: inner(*(_as_value(x) for x in a))  # noqa: E731
        if self._written_params():
            unchecked = compiled

            def compiled(*a):
                self._check_overlap(a)
                return unchecked(*self._detached(a))

        plan = (compiled, free, dtype, len(args), by_shape)
        self._plans[key] = plan
        if by_shape:
            self._plans[(key, by_shape(converted))] = plan
            self._plans[(key, by_shape(args))] = plan  # what __call__ looks up
        return plan

    def _refuse_zero_d_writes(self, positions):
        """A 0-d array argument is taken as a scalar of its dtype (NumPy's arithmetic on it
        gives scalars); a write into it (``s[()] = ...``) is refused at that line."""
        fn = base_function(self)
        if code_of(fn) is None:
            return
        from .analysis import semantics
        from .errors import UnsupportedError, where

        ir = pipeline.user_ir(fn)
        lines = semantics.written_params(ir, lines=True)
        for k in positions:
            if k in lines:
                raise UnsupportedError(
                    f"{where(ir.filename, lines[k])}: a write into argument {ir.params[k]!r}, a 0-d array: s2sad "
                    "takes 0-d arrays as scalars of their dtype; return the new value instead of writing it into "
                    "the argument"
                )

    @property
    def source(self) -> str:
        return source(self)


def _options(options, changes) -> Options:
    """``options`` (None: as the environment sets them) with ``changes`` (Options fields)."""
    if options is None:
        options = Options.from_env()
    elif not isinstance(options, Options):
        raise UsageError(f"options must be an s2sad Options, got {options!r}")
    if changes:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(Options)})
        if unknown:
            raise UsageError(
                f"unknown option {', '.join(map(repr, unknown))}: the options are "
                f"{', '.join(f.name for f in dataclasses.fields(Options))}"
            )
        options = options.replace(**changes)
    return options


def _is_zero_d(a) -> bool:
    return isinstance(a, np.ndarray) and a.ndim == 0 and a.dtype.kind in "fiub"


def _as_value(a):
    """A list as an array, a 0-d real array as the NumPy scalar it holds, else ``a``."""
    if isinstance(a, list):
        return np.asarray(a)
    if _is_zero_d(a):
        return a[()]
    return a


def _argument_problem(a):
    """What is wrong with an argument value (None: nothing)."""
    if isinstance(a, (complex, np.complexfloating)) or isinstance(a, np.ndarray) and a.dtype.kind == "c":
        return (
            "is complex",
            "complex values are outside what s2sad differentiates; pass the real "
            "and imaginary parts as two float arrays",
        )
    if isinstance(a, np.ndarray):
        if a.dtype.kind not in "fiub":
            return (f"is an array of dtype {a.dtype}", "pass a float, integer or boolean array")
        return None
    if isinstance(a, (bool, int, float, np.bool_, np.integer, np.floating, str, slice)) or a is None:
        return None
    if isinstance(a, tuple):
        for x in a:
            problem = _argument_problem(x)
            if problem is not None:
                return (f"is a tuple with an element that {problem[0]}", problem[1])
        return None
    if isinstance(a, list):
        if any(isinstance(x, (list, tuple)) for x in a):
            return ("is a nested list", "pass np.asarray(...) of it (s2sad follows arrays, not nested lists)")
        try:
            arr = np.asarray(a)
        except ValueError:
            arr = None
        if arr is None or arr.dtype.kind not in "fiub":
            if arr is not None and arr.dtype.kind == "c":
                return ("is a list of complex values", "complex values are outside what s2sad differentiates")
            return (
                "is a list that is not one real array (elements of different shapes or types)",
                "pass the arrays as separate arguments or as a tuple",
            )
        return None
    kind = type(a).__name__
    return (
        f"is a {kind}",
        "s2sad takes NumPy arrays, Python or NumPy scalars, and tuples of them: "
        f"pass the {kind}'s arrays as separate arguments",
    )


def _list_problem(fn, k, a):
    from .analysis import semantics

    ir = pipeline.user_ir(fn)
    if k >= len(ir.params):
        return None
    line = semantics.list_misuse(ir, ir.params[k])
    if line is None:
        return None
    return (
        f"is a list, and line {line} applies an operator to it",
        "s2sad converts a list argument with np.asarray, but Python's + concatenates lists and * "
        "repeats them: pass np.asarray(...) to get NumPy's arithmetic",
    )


def _argument_error(fn, k, problem):
    from .errors import UnsupportedError, where

    code = code_of(fn)
    names = param_names(fn)
    name = repr(names[k]) if k < len(names) else f"{k}"
    try:
        ir = pipeline.user_ir(fn)
        line = ir.def_line or code.co_firstlineno
    except S2SADError:
        line = code.co_firstlineno
    what, advice = problem
    return UnsupportedError(f"{where(code.co_filename, line)}: argument {name} of {code.co_name} {what}: {advice}")


def _arg_key(args):
    """The specialization key of actual arguments: rank and dtype (no values). Computed at
    every call: a plain array (the common case) is tested first, its dtype object kept."""
    key = []
    for a in args:
        if type(a) is np.ndarray or isinstance(a, np.ndarray):
            key.append((a.ndim, a.dtype))
        elif isinstance(a, tuple):
            key.append(("tuple", _arg_key(a)))
        elif isinstance(a, np.generic):
            key.append((a.dtype.char,))
        else:
            key.append(type(a))
    return tuple(key)


def _shape_key(args):
    """The shapes of the small array arguments: code with loops is compiled for them.
    Computed at every call of such code: a list comprehension, not ``tuple()`` of a generator,
    which would resume a generator frame once per argument."""
    return tuple([a.shape if isinstance(a, np.ndarray) and a.size <= SMALL else None for a in args])


def _key(dummies):
    def one(d):
        if isinstance(d, tuple):
            return ("tuple", tuple(one(x) for x in d))
        if isinstance(d, np.ndarray):
            return ("array", d.ndim, d.dtype.str)
        return (type(d).__name__,)

    return tuple(one(d) for d in dummies)


def base_function(g):
    while isinstance(g, Transformed):
        g = g.fn
    return g


def _transformation(kind):
    def transform(fn=None, argnums=0, *, backend="numba"):
        if fn is None or isinstance(fn, int) or isinstance(fn, tuple):
            if fn is not None:  # @jacrev(2): argnums given positionally
                argnums = fn
            return lambda f: Transformed(f, kind, argnums, backend)
        return Transformed(fn, kind, argnums, backend)

    return transform


grad = _transformation("grad")
jacfwd = _transformation("jacfwd")
jacrev = _transformation("jacrev")
value_and_grad = _transformation("value_and_grad")

grad.__doc__ = """Gradient of a scalar-valued function.

Args:
    fn: a Python function (its source must be readable) or another transformation.
    argnums: which positional argument(s) to differentiate (int or tuple of ints).
    backend: "numba" (default: the derivative is compiled with numba.njit) or "python".

Returns:
    A function returning the gradient, shaped like the argument (a tuple for a tuple of
    argnums).

Example:
    >>> import numpy as np, s2sad
    >>> def f(x1, x2):
    ...     return np.log(x1) + x1 * x2 - np.sin(x2)
    >>> s2sad.grad(f, argnums=(0, 1), backend="python")(2.0, 5.0)  # doctest: +SKIP
    (5.5, 1.7163378145367738)
"""
jacfwd.__doc__ = """Jacobian by forward mode: one sweep over a batch of unit-vector tangents.

Returns a function whose result has shape ``out.shape + in.shape`` (tuples for tuple
argnums / tuple outputs, ``J[i][j]`` = output i w.r.t. argument j).
"""
jacrev.__doc__ = """Jacobian by reverse mode: one sweep over a batch of unit-vector cotangents.

Returns a function whose result has shape ``out.shape + in.shape`` (tuples for tuple
argnums / tuple outputs, ``J[i][j]`` = output i w.r.t. argument j).
"""


value_and_grad.__doc__ = """``(fn(*args), grad(fn, argnums)(*args))`` from one reverse sweep (JAX's convention).

For ``scipy.optimize.minimize(fun, x0, jac=True)``: ``minimize(s2sad.value_and_grad(f), x0,
jac=True, args=data)``.
"""


def hessian(fn=None, argnums=0, *, backend="numba"):
    """``jacfwd(jacrev(fn, argnums), argnums)``: shape ``out.shape + in.shape + in.shape``."""
    if fn is None or isinstance(fn, (int, tuple)):
        if fn is not None:
            argnums = fn
        return lambda f: hessian(f, argnums, backend=backend)
    return jacfwd(jacrev(fn, argnums, backend=backend), argnums, backend=backend)


def _as_tuple(value, what):
    if not isinstance(value, (tuple, list)):
        raise UsageError(f"{what} must be a tuple with one entry per argument of the function")
    return tuple(value)


def _checked_pairs(primals, tangents, name):
    primals = _as_tuple(primals, f"{name}: primals")
    tangents = _as_tuple(tangents, f"{name}: tangents")
    if len(primals) != len(tangents):
        raise UsageError(f"{name}: {len(primals)} primals but {len(tangents)} tangents")
    for k, (p, t) in enumerate(zip(primals, tangents)):
        if np.shape(p) != np.shape(t):
            raise UsageError(
                f"{name}: tangent {k} has shape {np.shape(t)} but its primal has shape {np.shape(p)}; they must match"
            )
    return primals, tangents


def jvp(fn, primals, tangents, *, backend="numba"):
    """Forward-mode product: ``(fn(*primals), J @ tangents)``.

    Args:
        fn: the function (or transformation) to differentiate.
        primals, tangents: tuples, one entry per positional argument of ``fn``; tangents
            must match the primals' shapes (for non-float primals they are ignored).
    """
    primals, tangents = _checked_pairs(primals, tangents, "jvp")
    active = tuple(k for k, p in enumerate(primals) if np.asarray(p).dtype.kind == "f")
    g = _cached(fn, "jvp", active, backend)
    tangents = tuple(_tangent_like(t, p) if k in active else None for k, (p, t) in enumerate(zip(primals, tangents)))
    args = primals + tuple(t for t in tangents if t is not None)
    result = g.call_extended(primals, args)
    half = len(result) // 2  # the outputs, then their tangents (a tuple output's flattened)
    if half == 1:
        return result[0], result[1]
    return tuple(result[:half]), tuple(result[half:])


def vjp(fn, *primals, backend="numba"):
    """Reverse-mode product: ``(fn(*primals), vjp_fn)``; ``vjp_fn(cotangent)`` returns a tuple
    with one cotangent per primal (zeros for the ones that are not float)."""
    active = tuple(k for k, p in enumerate(primals) if np.asarray(p).dtype.kind == "f")
    # the primal runs on copies: a function that writes into its argument must not change
    # the point at which vjp_fn differentiates it
    primal = _cached(fn, "primal", None, backend)
    copies = (
        tuple(np.copy(p) if isinstance(p, np.ndarray) else p for p in primals) if primal._written_params() else primals
    )
    value = primal.call_extended(copies, copies)
    g = _cached(fn, "vjp", active, backend)
    return value, VJPFunction(fn, primals, value, active, g, backend)


class VJPFunction:
    """The ``vjp_fn`` of ``vjp``: cotangents of the outputs -> one cotangent per primal. It
    pickles as the user's function, the primals and the backend (a worker computes the primal
    again when it unpickles it), never its compiled code."""

    def __init__(self, fn, primals, value, active, g, backend):
        self.fn, self.primals, self.value, self.active, self.g, self.backend = fn, primals, value, active, g, backend

    def __call__(self, cotangent):
        primals, value = self.primals, self.value
        out_ct = cotangent if isinstance(cotangent, tuple) else (cotangent,)
        outs = value if isinstance(value, tuple) else (value,)
        for k, (o, c) in enumerate(zip(outs, out_ct)):
            if np.shape(o) != np.shape(c):
                raise UsageError(f"vjp: cotangent {k} has shape {np.shape(c)} but the output has shape {np.shape(o)}")
        # a scalar output's cotangent is a scalar (Numba types a 0-d array differently)
        cts = tuple(_cotangent_like(c, o) for o, c in zip(outs, out_ct))
        bars = self.g.call_extended(primals, primals + cts)
        result = []
        it = iter(bars if isinstance(bars, tuple) else (bars,))
        for k, p in enumerate(primals):
            result.append(next(it) if k in self.active else np.zeros_like(np.asarray(p), dtype=np.float64))
        return tuple(result)

    def __reduce__(self):
        return _vjp_function, (self.fn, self.primals, self.backend)

    def __repr__(self):
        return f"<vjp_fn of {getattr(self.fn, '__name__', self.fn)!s} ({self.backend})>"


def _vjp_function(fn, primals, backend):
    return vjp(fn, *primals, backend=backend)[1]


@functools.lru_cache(maxsize=512)
def _cached(fn, kind, argnums, backend):
    """One Transformed per (function, kind, argnums, backend): jvp/vjp/hvp are called with the
    function each time, and must not rebuild (or recompile) its derivative on every call."""
    return Transformed(fn, kind, argnums, backend)


def hvp(fn, primals, tangents, *, backend="numba"):
    """Hessian-vector product by forward-over-reverse: ``jvp(grad(fn, all), ...)`` — one sweep,
    the Hessian is never formed. Returns a tuple with one entry per primal."""
    primals = _as_tuple(primals, "hvp: primals")
    active = tuple(k for k, p in enumerate(primals) if np.asarray(p).dtype.kind == "f")
    g = _cached(fn, "grad", active, backend)
    primals, tangents = _checked_pairs(primals, tangents, "hvp")
    h = _cached(g, "jvp_tangents", active, backend)
    args = primals + tuple(_tangent_like(tangents[k], primals[k]) for k in active)
    (out,) = h.call_extended(primals, args)
    return out


def hessp(fn=None, argnums=0, *, backend="numba"):
    """The Hessian-vector product shaped as SciPy's ``hessp``: ``hessp(fn)(x, p, *args)`` is
    ``H @ p`` for the Hessian of ``fn`` w.r.t. its argument ``argnums`` (``x``), the other
    arguments (``args``, in order) held constant. Forward over reverse, one sweep, the
    Hessian never formed; derivatives are taken w.r.t. ``x`` only.

    ``scipy.optimize.minimize(f, x0, args=data, jac=s2sad.grad(f), hessp=s2sad.hessp(f),
    method="trust-ncg")``.
    """
    if fn is None:
        return lambda f: hessp(f, argnums, backend=backend)
    if not isinstance(argnums, numbers.Integral):
        raise UsageError(f"hessp: argnums must be an int (the position of x), got {argnums!r}")
    return HessP(fn, argnums, backend)


class HessP:
    """``hessp(x, p, *args)`` of ``s2sad.hessp`` (a class, so it pickles like the others)."""

    def __init__(self, fn, argnums, backend):
        self.fn, self.argnums, self.backend = fn, argnums, backend
        self._h = Transformed(Transformed(fn, "grad", argnums, backend), "jvp_tangents", argnums, backend)
        functools.update_wrapper(self, fn, updated=())
        self.__name__ = f"{getattr(fn, '__name__', 'f')}_hessp"

    def __reduce__(self):
        return (HessP, (self.fn, self.argnums, self.backend))

    def __call__(self, x, p, *args):
        k = self.argnums % (len(args) + 1)
        primals = args[:k] + (x,) + args[k:]
        if np.shape(p) != np.shape(x):
            raise UsageError(f"hessp: p has shape {np.shape(p)} but x has shape {np.shape(x)}; they must match")
        _check_float(x, k, "hessp")
        (out,) = self._h.call_extended(primals, primals + (_tangent_like(p, x),))
        return out


def _cotangent_like(c, out):
    """A cotangent in its output's float dtype; a scalar output's stays a scalar."""
    dtype = np.result_type(np.asarray(out).dtype, np.float32)
    return np.asarray(c, dtype=dtype) if np.ndim(out) else dtype.type(c)


def _tangent_like(t, primal):
    """A tangent in its primal's dtype; a scalar's stays a scalar (a 0-d array is a different
    type to Numba, and the compiled code has no rules for it)."""
    dtype = np.asarray(primal).dtype
    return np.asarray(t, dtype=dtype) if np.ndim(primal) else dtype.type(t)


def source(g, *example_args) -> str:
    """The generated Python source of a transformed function.

    With ``example_args`` it is specialized for them; otherwise for the last call of ``g``
    (call it once first).
    """
    if not isinstance(g, Transformed):
        raise UsageError("source() takes a function returned by an s2sad transformation")
    if example_args:
        g.check_args(example_args)
        example_args = tuple(_as_value(a) for a in example_args)  # as a call converts them
        # the source only: no compile needed (a numba compile can take seconds)
        return pipeline.emit(g.ir_for(tuple(dummy_like(a) for a in example_args), False, g.arg_shapes(example_args)))
    if g._last_key is None:
        raise UsageError(
            f"source({g.__name__}): it has not been called yet, so its argument types are unknown; "
            "call it once or pass example arguments: s2sad.source(g, x)"
        )
    return g._compiled[g._last_key][1]


__all__ = [
    "grad",
    "value_and_grad",
    "jacfwd",
    "jacrev",
    "hessian",
    "jvp",
    "vjp",
    "hvp",
    "hessp",
    "source",
    "Transformed",
    "S2SADError",
]
