"""The catebench conformance suite on the example estimator: one pytest case per check."""

import pytest

from catebench_plugin_example import KNNTLearner
from catebench.estimators.checks import iter_checks


@pytest.mark.parametrize("check", list(iter_checks(KNNTLearner(**KNNTLearner.test_params()))),
                         ids=lambda c: c.__name__)
def test_conformance(check):
    check()
