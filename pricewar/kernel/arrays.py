"""Input checks and the scatter-sum primitive shared by the kernel's modules."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from pricewar.errors import KernelInputError

try:  # the compiled loop behind ``csc_matrix @ vector`` (scipy.sparse._compressed._matmul_vector)
    from scipy.sparse._sparsetools import csc_matvec as _csc_matvec
except ImportError:  # a scipy without it: go through the public matrix (same loop, same sums)
    _csc_matvec = None


# --------------------------------------------------------------------------------------------
# input checks (scikit-learn style: name the argument and the bad value)
# --------------------------------------------------------------------------------------------
def first_bad(values: np.ndarray, bad: np.ndarray) -> str:
    idx = int(np.flatnonzero(bad)[0])
    return f"{values.ravel()[idx].item()!r} at index {idx}"


def float_array(name: str, values, length: int | None = None, *, nonneg: bool = False,
                 allow_inf: bool = False) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise KernelInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise KernelInputError(f"{name} has length {arr.shape[0]}, expected {length}")
    bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
    if bad.any():
        kind = "NaN" if allow_inf else "non-finite values"
        raise KernelInputError(f"{name} contains {kind}: {first_bad(arr, bad)}")
    if nonneg and (arr < 0).any():
        raise KernelInputError(f"{name} must be >= 0, got {first_bad(arr, arr < 0)}")
    return arr


def int_array(name: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise KernelInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise KernelInputError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def unique_inverse(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, return_inverse=True)`` for int ``key`` in ``[0, size)``.

    When ``size`` is not much larger than ``key`` (a consumer x producer key of a compiled
    topology), mark the values present in a table of ``size`` flags and rank them by a cumulative
    sum: linear time, where ``np.unique`` sorts. Otherwise sort, as ``np.unique`` does, but with a
    stable sort (timsort): keys sorted in runs, such as a consumer-major key over routes sorted by
    consumer, sort several times faster so. The same arrays either way.
    """
    if size > 4 * key.size + 4096:
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        new = np.empty(key.size, dtype=bool)
        new[:1] = True
        np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
        inverse = np.empty(key.size, dtype=np.intp)
        inverse[order] = np.cumsum(new) - 1
        return ordered[new], inverse
    present = np.zeros(size, dtype=bool)
    present[key] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[key]


# --------------------------------------------------------------------------------------------
# scatter-sum primitive
# --------------------------------------------------------------------------------------------
_ONE = np.ones(1)


_INT32_MAX = int(np.iinfo(np.int32).max)
#: below this many values ``bincount`` is faster: a CSC pass has a fixed cost whatever its size,
#: more than bincount's extra pass over a short index
_SPARSE_MIN_VALUES = 16_384


def index32(index: np.ndarray, size: int) -> np.ndarray:
    """An int32 copy of ``index`` (entries in ``[0, size)``) for :func:`scatter_sum`, when it fits."""
    if index.size < _INT32_MAX and size < _INT32_MAX:
        return index.astype(np.int32)
    return index


def scatter_sum(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """``np.bincount(index, values, minlength=size)``: sum float64 ``values`` by ``index``.

    Every per-producer and per-consumer sum of the kernel goes through here, so it is worth a trick:
    with an int32 ``index`` the sum is done as the product of a one-column CSC matrix holding
    ``values`` at rows ``index`` with the vector ``[1.0]``. scipy's compiled loop then adds the values
    in route order, exactly like ``bincount``, but reads 4-byte indices and skips bincount's extra
    min/max pass over ``index``: about 2.5x faster on producer sums, 1.8x on consumer sums
    (2M routes), and faster than ``np.add.reduceat`` over consumer segments. ``index`` must be
    valid (it always comes from a validated topology): the compiled loop does not check bounds.
    Short sums (small models, per-host sums) use ``bincount`` itself: same additions, same order.
    The compiled loop is called directly, as ``csc_matrix @ vector`` calls it: building the matrix
    object costs ~0.15 ms of format checks a call, which summed to 2.8 s of the 37 s set-up of the
    100,000-consumer benchmark (18,000 calls in the initial Bertrand-Nash solve).
    """
    if index.dtype != np.int32 or values.size < _SPARSE_MIN_VALUES or size == 0:
        return np.bincount(index, values, minlength=size).astype(np.float64, copy=False)
    pointers = np.array([0, values.size], dtype=np.int32)
    if _csc_matvec is None:
        return sparse.csc_matrix((values, index, pointers), shape=(size, 1)) @ _ONE
    out = np.zeros(size)
    _csc_matvec(size, 1, pointers, np.ascontiguousarray(index),
                np.ascontiguousarray(values, dtype=np.float64), _ONE, out)
    return out


def compact_index(index32: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``index32[keep]`` for :func:`scatter_sum`, and as intp for gathers.

    Widening the short int32 copy is cheaper than a second gather from the int64 array, and numpy
    gathers with intp indices about twice as fast as with int32 ones.
    """
    small = index32[keep]
    return small, small.astype(np.intp)


# Block size of the gathers below: a block's gathered values stay in cache.
_GATHER_BLOCK = 1 << 16


def gather_apply(ufunc, values: np.ndarray, table: np.ndarray, index: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray:
    """``ufunc(values, table[index])`` (e.g. ``np.multiply``), block by block.

    The same as the one-liner, but the gathered ``table[index]`` never exists as a full-length
    temporary: a fresh route-length array costs its page faults on every call, more than the
    arithmetic. ``out`` may be ``values`` (in place).
    """
    if out is None:
        out = np.empty_like(values)
    for start in range(0, values.size, _GATHER_BLOCK):
        stop = start + _GATHER_BLOCK
        ufunc(values[start:stop], table[index[start:stop]], out=out[start:stop])
    return out
