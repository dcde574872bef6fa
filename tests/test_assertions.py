"""The ``assert_close`` test helper: numpy.allclose's rule, and a message that names the worst element."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from assertions import assert_close


def test_passes_within_tolerance_like_numpy_allclose():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 5))
    for b in (a, a + 5e-9, a * (1 + 5e-6)):
        assert np.allclose(a, b)
        assert_close(a, b)
    assert_close(a + 1e-3, a, atol=2e-3, rtol=0)
    assert_close([1.0, np.inf, -np.inf], [1.0, np.inf, -np.inf])  # equal infinities are close, as in numpy


def test_failure_names_the_worst_index_values_differences_and_count():
    expected = np.zeros((3, 4))
    actual = expected.copy()
    actual[0, 1] = 0.5
    actual[2, 3] = -2.0  # the worst
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected, atol=0.1, rtol=0, what="poses")
    msg = str(info.value)
    assert msg.startswith("poses: 2 of 12 elements out of tolerance (atol=0.1, rtol=0)")
    assert "worst at index (2, 3): actual -2, expected 0, abs diff 2, rel diff inf" in msg


def test_relative_difference_and_the_rule_use_expected():
    with pytest.raises(AssertionError, match=r"index \(1,\): actual 110, expected 100, abs diff 10, rel diff 0.1"):
        assert_close([1.0, 110.0], [1.0, 100.0], atol=0, rtol=0.05)
    assert_close([1.0, 110.0], [1.0, 100.0], atol=0, rtol=0.1)


def test_nan_is_never_close_and_is_the_worst():
    with pytest.raises(AssertionError, match=re.escape("2 of 3 elements") + r".*index \(2,\): actual nan"):
        assert_close([0.0, 9.0, np.nan], [0.0, 0.0, 0.0], atol=1.0)


def test_torch_tensors_and_mixed_inputs():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert_close(t, t.numpy() + 1e-9)
    assert_close(t.requires_grad_(), t.detach().to(torch.bfloat16), atol=1e-2)
    with pytest.raises(AssertionError, match=r"1 of 6 elements .* index \(1, 0\)"):
        assert_close(t, torch.tensor([[0.0, 1.0, 2.0], [3.5, 4.0, 5.0]]))


def test_shapes_must_match_except_for_a_scalar_expected():
    assert_close(np.zeros((2, 3)), 0.0)
    with pytest.raises(AssertionError, match=r"^x: 6 of 6 elements"):
        assert_close(np.ones((2, 3)), 0.0, what="x")
    with pytest.raises(AssertionError, match=r"shapes differ: actual \(2, 3\), expected \(3,\)"):
        assert_close(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_close(0.0, np.zeros(3))
