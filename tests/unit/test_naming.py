import re

import pytest

from hotfix_operator.errors import SettingsError
from hotfix_operator.naming import hotfix_namespace, label_value, ownership_labels

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_namespace_is_readable_deterministic_and_valid():
    name = hotfix_namespace("hotfix-", "team-orders", "orders-1-4-1")
    assert name.startswith("hotfix-team-orders-orders-1-4-1-")
    assert name == hotfix_namespace("hotfix-", "team-orders", "orders-1-4-1")
    assert DNS_LABEL.match(name)


def test_long_names_are_shortened_and_stay_distinct():
    long_a = "a" * 200 + "x"
    long_b = "a" * 200 + "y"
    ns_a = hotfix_namespace("hotfix-", "team", long_a)
    ns_b = hotfix_namespace("hotfix-", "team", long_b)
    assert len(ns_a) <= 63 and len(ns_b) <= 63
    assert ns_a != ns_b
    assert DNS_LABEL.match(ns_a)


def test_same_name_in_two_namespaces_gets_two_targets():
    assert hotfix_namespace("hotfix-", "a-b", "c") != hotfix_namespace("hotfix-", "a", "b-c")


@pytest.mark.parametrize("prefix", ["kube-", "openshift-", "default", ""])
def test_reserved_prefixes_are_refused(prefix):
    with pytest.raises(SettingsError, match="HOTFIX_NAMESPACE_PREFIX"):
        hotfix_namespace(prefix, "team", "x")


def test_label_values_fit_for_any_name():
    assert label_value("orders-1-4-1") == "orders-1-4-1"
    long = "x" * 253
    value = label_value(long)
    assert len(value) <= 63 and value != label_value("x" * 252)
    labels = ownership_labels("team", long)
    assert labels["app.kubernetes.io/managed-by"] == "hotfix-operator"
    assert all(len(v) <= 63 for v in labels.values())
