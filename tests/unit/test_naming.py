import hashlib
import re

import pytest

from hotfix_operator.errors import SettingsError
from hotfix_operator.naming import (
    UNASSIGNED_HASH,
    hotfix_namespace,
    is_planned_namespace,
    label_value,
    ownership_labels,
    planned_namespace,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
UID = "0b6f3c1e-8a2d-4f57-9c1b-2e7d5a9f4c30"
OTHER_UID = "7d1e9a40-3b2c-4e8f-a6d5-1c0b9f8e7a62"


def test_namespace_is_readable_deterministic_and_valid():
    name = hotfix_namespace("hotfix-", "team-orders", "orders-1-4-1", UID)
    assert name.startswith("hotfix-team-orders-orders-1-4-1-")
    assert name == hotfix_namespace("hotfix-", "team-orders", "orders-1-4-1", UID)
    assert DNS_LABEL.match(name)


def test_namespace_ends_in_64_bits_of_a_hash_of_the_uid():
    name = hotfix_namespace("hotfix-", "team-orders", "orders-1-4-1", UID)
    digest = re.fullmatch(r".*-([0-9a-f]{16})", name)
    assert digest is not None, name
    hashed = hashlib.sha256(f"team-orders/orders-1-4-1/{UID}".encode()).hexdigest()
    assert digest.group(1) == hashed[:16]


def test_an_attacker_cannot_get_the_name_of_another_hotfix_without_its_uid():
    """Same namespace/name, another UID (deleted and re-created, or crafted): another
    namespace; and a name built to share the readable part does not share the hash."""
    victim = hotfix_namespace("hotfix-", "team-orders", "x", UID)
    assert hotfix_namespace("hotfix-", "team-orders", "x", OTHER_UID) != victim
    assert hotfix_namespace("hotfix-", "team", "orders-x", UID) != victim
    assert hotfix_namespace("hotfix-", "team", "orders-x", OTHER_UID) != victim


def test_long_names_are_shortened_and_stay_distinct():
    long_a = "a" * 200 + "x"
    long_b = "a" * 200 + "y"
    ns_a = hotfix_namespace("hotfix-", "team", long_a, UID)
    ns_b = hotfix_namespace("hotfix-", "team", long_b, OTHER_UID)
    longest_prefix = "p" * 16 + "-"  # settings allow at most 17 characters
    ns_c = hotfix_namespace(longest_prefix, "t" * 63, long_a, UID)
    assert len(ns_a) <= 63 and len(ns_b) <= 63 and len(ns_c) == 63
    assert ns_a != ns_b
    assert DNS_LABEL.match(ns_a) and DNS_LABEL.match(ns_c)
    assert re.fullmatch(r".*-[0-9a-f]{16}", ns_c)


def test_same_name_in_two_namespaces_gets_two_targets():
    assert hotfix_namespace("hotfix-", "a-b", "c", UID) != hotfix_namespace(
        "hotfix-", "a", "b-c", UID
    )


def test_the_plan_shows_the_name_with_the_uid_hash_left_to_the_operator():
    planned = planned_namespace("hotfix-", "team-orders", "orders-1-4-1")
    assert planned == f"hotfix-team-orders-orders-1-4-1-{UNASSIGNED_HASH}"
    assert DNS_LABEL.match(planned) and is_planned_namespace(planned)
    real = hotfix_namespace("hotfix-", "team-orders", "orders-1-4-1", UID)
    assert real[:-16] == planned[:-16] and not is_planned_namespace(real)


@pytest.mark.parametrize("prefix", ["kube-", "openshift-", "default", ""])
def test_reserved_prefixes_are_refused(prefix):
    with pytest.raises(SettingsError, match="HOTFIX_NAMESPACE_PREFIX"):
        hotfix_namespace(prefix, "team", "x", UID)
    with pytest.raises(SettingsError, match="HOTFIX_NAMESPACE_PREFIX"):
        planned_namespace(prefix, "team", "x")


def test_label_values_fit_for_any_name():
    assert label_value("orders-1-4-1") == "orders-1-4-1"
    long = "x" * 253
    value = label_value(long)
    assert len(value) <= 63 and value != label_value("x" * 252)
    labels = ownership_labels("team", long)
    assert labels["app.kubernetes.io/managed-by"] == "hotfix-operator"
    assert all(len(v) <= 63 for v in labels.values())
