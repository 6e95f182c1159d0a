"""Module 05 (Autograd) bugs: very deep and very wide graphs.

API.md: the backward traversal is one topological pass, iterative, so a 100,000-deep chain
and a graph that reuses a node many times are both linear in the number of nodes. These
tests assert results only, never wall-clock time: a recursive traversal fails with
RecursionError (the recursion limit is left untouched, and checked to be), and an
exponential one (one visit per path) does not finish, which pytest-timeout reports.
"""

import sys
import weakref

import numpy as np
import pytest
from course_api import Function, Tensor
from tinytorch_testing import gc_disabled

pytestmark = pytest.mark.performance

# The chains grow under gc_disabled(): the cyclic collector would rescan the 100,000 live
# nodes again and again (time only; nothing here depends on it), and off, only reference
# counting frees anything.
DEPTH = 100_000

# Each test's own pytest-timeout, about ten times the reference's slowest time on a slow
# 2-core machine (100k chains: 3.9 s, 9 s under the audit's branch coverage; the others: 0.6 s),
# rounded up: an exponential engine (one visit per path) must fail here in seconds, not at the
# run's 60 or 300 s per test.
DEEP_CHAIN_TIMEOUT = pytest.mark.timeout(40)
GRAPH_TIMEOUT = pytest.mark.timeout(10)


@DEEP_CHAIN_TIMEOUT
def test_100k_deep_chain_backward():
    limit = sys.getrecursionlimit()
    one, two = Tensor([1.0]), Tensor([2.0])  # made once: the chain is what is measured
    x = Tensor([3.0], requires_grad=True)
    with gc_disabled():
        z = x
        for i in range(DEPTH):
            # 10 of the links double: the gradient 2**10 shows that every link was visited
            z = z * two if i % 10_000 == 0 else z * one
        loss = z * z  # (2**10 x)**2 = 4**10 x**2, so d/dx = 2 * 4**10 * x
        del z
        loss.backward()
    np.testing.assert_array_equal(loss.data, [(3.0 * 2**10) ** 2])
    np.testing.assert_array_equal(x.grad, [2 * 4**10 * 3.0])  # exact: powers of 2 times 3
    assert sys.getrecursionlimit() == limit


@DEEP_CHAIN_TIMEOUT
def test_100k_deep_chain_is_freed_without_recursion_error():
    # dropping the only reference to the head frees 100,000 nodes by reference counting,
    # a chain of deallocations that must not overflow the stack. The leaf at the far end is
    # held by the graph alone (which must reach it to give it a gradient): it is freed last.
    limit = sys.getrecursionlimit()
    minus_one = Tensor([-1.0])  # made once: the chain is what is measured
    with gc_disabled():
        x = Tensor([1.0], requires_grad=True)
        z = x * minus_one
        leaf = weakref.ref(x)
        del x
        for _ in range(DEPTH):
            z = z * minus_one
        assert z.requires_grad, "the chain was not recorded"
        assert isinstance(getattr(z, "_grad_fn", None), Function), "the chain was not recorded"
        assert leaf() is not None
        del z
        assert leaf() is None
    assert sys.getrecursionlimit() == limit


@GRAPH_TIMEOUT
def test_60_level_diamond_is_linear():
    # z = z + z sixty times: 2**60 paths from the output to x, 60 nodes. Visiting each
    # node once gives d/dx = 2**60 at once; visiting each path would never finish.
    x = Tensor([1.0], requires_grad=True)
    z = x
    for _ in range(60):
        z = z + z
    z.backward()
    assert z.data[0] == 2.0**60
    assert x.grad[0] == 2.0**60  # a power of two: exact in float32


@GRAPH_TIMEOUT
def test_diamond_of_intermediates_is_linear():
    # as above, but through two different ops per level (h * 1 and h + 0): the node feeding
    # both is an intermediate that must be handled once, after both of its users
    x = Tensor([1.0], requires_grad=True)
    z = x * 1.0
    for _ in range(60):
        z = z * 1.0 + (z + 0.0)
    z.backward()
    assert x.grad[0] == 2.0**60


@GRAPH_TIMEOUT
def test_one_leaf_used_3000_times():
    x = Tensor([2.0], requires_grad=True)
    total = Tensor([0.0])
    coefficients = np.arange(3_000) % 7
    for c in coefficients:
        total = total + x * float(c)
    total.backward()
    assert x.grad[0] == float(coefficients.sum())  # small integers: exact
    assert total.data[0] == 2.0 * float(coefficients.sum())


@GRAPH_TIMEOUT
def test_wide_fan_in_of_intermediates():
    # 1,000 branches from one intermediate h, of 0 to 4 links each, joined in both operand
    # orders: h's gradient is complete only after every branch, whatever the visiting order
    x = Tensor([1.0, -1.0], requires_grad=True)
    h = x * 3.0
    total = Tensor([0.0, 0.0])
    for i in range(1_000):
        branch = h
        for _ in range(i % 5):
            branch = branch * 1.0
        total = total + branch if i % 2 else branch + total
    total.sum().backward()
    np.testing.assert_array_equal(x.grad, [3_000.0, 3_000.0])
