"""Converter inputs that have no exact translation raise instead of converting approximately
(the conversions themselves: tests/test_conventions.py)."""

from __future__ import annotations

import pytest

import jaxreg as jr


def test_converters_raise_on_what_the_other_library_cannot_express():
    with pytest.raises(ValueError, match=r"different masks"):
        jr.conventions.to_keras_config(jr.l2(0.1, mask=jr.masks.kernels) + jr.l1(0.2))
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ValueError, match=r"C must be > 0; got C=0"):
        jr.conventions.from_sklearn(LogisticRegression(C=0), n_samples=10)
