"""User-style functions for tests/test_rules_shapes.py: NumPy's shape and construction
functions (s2sad/rules/shape_rules.py), with their keywords written as a user writes them."""

import numpy as np

MASK_A = np.array([True, False, True, False, True, True])
MASK_B = np.array([True, True, False, False, False, True])


# --- joining -------------------------------------------------------------------------------
def hstack_(a, b):
    return np.hstack((a, b))


def hstack_list(a, b):
    return np.hstack([a, b, a])


def vstack_(a, b):
    return np.vstack((a, b))


def row_stack_(a, b):
    return np.row_stack([a, b])  # (deprecated in NumPy 2: an alias of vstack)


def column_stack_(a, b):
    return np.column_stack((a, b))


def dstack_(a, b):
    return np.dstack((a, b))


def concatenate_list(a, b):
    return np.concatenate([a, b], axis=0)


def concatenate_tuple_none(a, b):
    return np.concatenate((a, b), axis=None)


def stack_list(a, b):
    return np.stack([a, b], axis=-1)


def atleast_1d_(x):
    return np.atleast_1d(x) * 2.0


def atleast_2d_(x):
    return np.atleast_2d(x) * 2.0


def atleast_3d_(x):
    return np.atleast_3d(x) * 2.0


def atleast_2d_pair(a, b):
    p, q = np.atleast_2d(a, b)
    return p * q


def append_flat(a, b):
    return np.append(a, b)


def append_axis0(a, b):
    return np.append(a, b, axis=0)


# --- axes ----------------------------------------------------------------------------------
def moveaxis_(x):
    return np.moveaxis(x, 0, -1)


def moveaxis_multi(x):
    return np.moveaxis(x, (0, 1), (2, 0))


def rollaxis_(x):
    return np.rollaxis(x, 2)


def rollaxis_start(x):
    return np.rollaxis(x, 0, 2)


def swapaxes_(x):
    return np.swapaxes(x, 0, -1)


# --- flips, rotations, rolls ----------------------------------------------------------------
def flip_all(x):
    return np.flip(x)


def flip_axis(x):
    return np.flip(x, axis=1)


def flip_axes(x):
    return np.flip(x, axis=(0, 2))


def fliplr_(x):
    return np.fliplr(x)


def flipud_(x):
    return np.flipud(x)


def rot90_(x):
    return np.rot90(x)


def rot90_k2(x):
    return np.rot90(x, 2)


def rot90_k3_axes(x):
    return np.rot90(x, k=3, axes=(1, 2))


def rot90_neg(x):
    return np.rot90(x, -1, axes=(1, 0))


def roll_flat(x):
    return np.roll(x, 2)


def roll_axis(x):
    return np.roll(x, -1, axis=1)


def roll_tuple(x):
    return np.roll(x, (1, 5), axis=(0, 2))


def roll_big(x):
    return np.roll(x, 7, axis=0)


# --- repeating, padding ---------------------------------------------------------------------
def repeat_flat(x):
    return np.repeat(x, 2)


def repeat_axis(x):
    return np.repeat(x, 3, axis=1)


def repeat_counts(x):
    return np.repeat(x, [2, 0, 1], axis=0)


def tile_int(x):
    return np.tile(x, 2)


def tile_tuple(x):
    return np.tile(x, (2, 1, 3))


def pad_int(x):
    return np.pad(x, 1)


def pad_pairs(x):
    return np.pad(x, ((1, 0), (0, 2)), constant_values=0.5)


def pad_value(x, c):
    return np.pad(x, (2, 1), mode="constant", constant_values=c)


def pad_edge(x):
    return np.pad(x, 1, mode="edge")


def pad_edge_pairs(x):
    return np.pad(x, ((0, 2), (3, 1)), mode="edge")


def pad_reflect(x):
    return np.pad(x, 1, mode="reflect")


def pad_reflect_pairs(x):
    return np.pad(x, ((2, 1), (0, 3)), mode="reflect")


def pad_reflect_wide(x):
    return np.pad(x, 3, mode="reflect")  # NumPy reflects twice on a length-3 axis


# --- diagonals, triangles --------------------------------------------------------------------
def diag_1d(v):
    return np.diag(v)


def diag_1d_k(v):
    return np.diag(v, k=2)


def diag_1d_negk(v):
    return np.diag(v, -1)


def diag_2d(x):
    return np.diag(x)


def diag_2d_k(x):
    return np.diag(x, k=1)


def diagonal_(x):
    return np.diagonal(x)


def diagonal_offset(x):
    return np.diagonal(x, offset=-1, axis1=1, axis2=2)


def diagonal_3d(x):
    return np.diagonal(x, 1, 0, 2)


def tril_(x):
    return np.tril(x)


def tril_k(x):
    return np.tril(x, k=-1)


def triu_(x):
    return np.triu(x, 1)


# --- products --------------------------------------------------------------------------------
def kron_(a, b):
    return np.kron(a, b)


def tensordot_int(a, b):
    return np.tensordot(a, b, axes=1)


def tensordot_2(a, b):
    return np.tensordot(a, b)


def tensordot_pairs(a, b):
    return np.tensordot(a, b, axes=([0, 2], [1, 0]))


def tensordot_0(a, b):
    return np.tensordot(a, b, 0)


def einsum_matmul(a, b):
    return np.einsum("ij,jk->ik", a, b)


def einsum_dot(a, b):
    return np.einsum("i,i->", a, b)


def einsum_transpose(x):
    return np.einsum("ij->ji", x)


def einsum_batch(a, b):
    return np.einsum("bij,bjk->bik", a, b)


def einsum_diag(x):
    return np.einsum("ii->i", x)


def einsum_trace(x):
    return np.einsum("ii->", x)


def einsum_implicit(a, b):
    return np.einsum("ij,jk", a, b)


def einsum_three(a, b, c):
    return np.einsum("i,ij,j->", a, b, c)


def einsum_ellipsis(a):
    return np.einsum("...i->...", a)


def cross_(a, b):
    return np.cross(a, b)


def cross_summed(a, b):
    return np.sum(np.cross(a, b) ** 2)


def cross_axis(a, b):
    return np.cross(a, b, axis=0)


def outer_nd(a, b):
    return np.outer(a, b)


# --- sorting, selecting, constructing ----------------------------------------------------------
def partition_(x):
    return np.partition(x, 2)


def partition_axis0(x):
    return np.partition(x, (0, -1), axis=0)


def partition_none(x):
    return np.partition(x, 3, axis=None)


def sort_(x):
    return np.sort(x)


def sort_axis0(x):
    return np.sort(x, axis=0)


def sort_none(x):
    return np.sort(x, axis=None)


def select_(x, y):
    return np.select([MASK_A, MASK_B], [x, y], default=-1.0)


def select_scalar_default(x, y, d):
    return np.select([x > 0.0, y > 0.5], [x * x, y], d)


def linspace_(a, b):
    return np.linspace(a, b, 5)


def linspace_axis(a, b):
    return np.linspace(a, b, 3, endpoint=False, axis=-1)


def linspace_open(a, b):
    return np.linspace(a, b, num=4, endpoint=False)


def linspace_use(a, b):
    t = np.linspace(a, b, 6)
    return np.sin(t) * t


def squeeze_all(x):
    return np.squeeze(x)


def squeeze_derived(v):
    m = v[None, :] * v[:, None]  # (n, n)
    s = np.sum(m, axis=0, keepdims=True)  # (1, n): a size-1 axis the code knows
    return np.squeeze(s * v[:1]) * v  # v[:1] has one entry whatever v's length


def squeeze_weighted(x):
    return np.sum(np.squeeze(x) ** 2 * np.arange(1.0, 4.0))


def cross_of_created(x, n):
    y = np.zeros((2, 3))  # its sizes come from the constant shape (s2sad/analysis/sizes.py)
    y[1] = np.cos(x[0])
    y[0] = y[0] + x[1] * 2.0
    z = np.cross(y[..., :2] * x[..., :2], x[..., :2])
    acc = np.zeros(n)  # n: an int argument, a size not known
    for i in range(n):
        acc[i] = np.sum(z) * (i + 1.0)
    return np.squeeze(acc[None, :1]) + z


def cross_then_stack(x):
    z = np.cross(np.exp(x)[..., :2], x[..., :2])  # a number: its rank decides the stack's
    return np.stack([np.max(x), np.sin(z)])


def squeeze_slice(x, k):
    return np.sum(np.squeeze(x[k:]) ** 2)


# --- splitting ---------------------------------------------------------------------------------
def split_int(x):
    a, b = np.split(x, 2)
    return a * b


def split_indices(x):
    parts = np.split(x, [1, 3], axis=1)
    return parts[0] + parts[2] * parts[1][:, :1]


def array_split_(x):
    p, q, r = np.array_split(x, 3)
    return np.concatenate((r, p * 2.0, q))


def hsplit_(x):
    a, b = np.hsplit(x, 2)
    return a - b


def vsplit_(x):
    a, b = np.vsplit(x, [1])
    return a * b[:1]


def dsplit_(x):
    a, b, c = np.dsplit(x, 3)
    return a * c + b


def split_returned(x):
    return np.split(x, 3)


# --- method spellings ---------------------------------------------------------------------------
def repeat_method(x):
    return x.repeat(2, axis=0)


def diagonal_method(x):
    return x.diagonal(1)


def swapaxes_method(x):
    return x.swapaxes(0, 1)


def einsum_elementwise(a, b):
    return np.einsum("ij,ij->ij", a, b)


def einsum_outer(a, b):
    return np.einsum("i,j->ji", a, b)


def einsum_mixed(a, b):
    return np.einsum("bij,kjb->kbi", a, b)


def einsum_reduce(x):
    return np.einsum("ijk->j", x)


def repeat_variable(x, r):
    return np.repeat(x, r)


def einsum_sublists(a):
    return np.einsum(a, [0, 1], [1, 0])


# --- new arrays, as NumPy's (a write into the result leaves the argument alone) ---------------
def hstack_one_write(x):
    y = np.hstack((x,))
    y[0] = 0.0
    return x * y


def tile_one_write(x):
    y = np.tile(x, 1)
    y[1] = 2.0
    return x * y


def pad_zero_write(x):
    y = np.pad(x, 0)
    y[0] = 0.0
    return x * y


def roll_zero_write(x):
    y = np.roll(x, 0, axis=0)
    y[0] = 0.0
    return x * y


def flip_write(x):
    y = np.flip(x)
    y[0] = 0.0
    return x * 1.0


# --- literal operands ---------------------------------------------------------------------------
def append_literal(x):
    return np.append(x, [1.0, 2.0])


def kron_literal(x):
    return np.kron(x, [1.0, -2.0])


def cross_literal(x):
    return np.cross(x, [0.0, 0.0, 1.0])


def hstack_literal(x):
    return np.hstack((x, [1.0, 2.0]))


def select_mixed(x):
    return np.select([x > 0, x < -0.5], [x, 0.0], default=x * 3.0)


IDX = np.array([2, 0, 0, 1])


def take_flat(x):
    return np.take(x, IDX)


def take_axis(x):
    return np.take(x, [1, 1, 0], axis=-1)


def take_scalar_index(x):
    return np.take(x, 1, axis=0)


EINSUM_SPEC = "ij->ji"


def einsum_variable(x):
    return np.einsum(EINSUM_SPEC, x)
