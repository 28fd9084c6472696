"""The config delta between the pinned config and today's head: objects and keys."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from hotfix_operator.api.delta import KeyDelta
from hotfix_operator.config.delta import MASKED, FieldChange, config_delta, field_changes

HEAD = "c0ffee" + "0" * 34


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def secret(name: str, **sections: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **sections}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def deployment(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "orders"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
    }


PINNED = [
    deployment("registry.example.com/orders:1.4.0"),
    config_map(
        "orders-config",
        PARTNER_ENDPOINT="https://partner.example.com/api",
        LOG_LEVEL="info",
        TIMEOUT="5s",
    ),
    config_map("partner-certs", ca="---cert---"),
]
TODAY = [
    deployment("registry.example.com/orders:1.5.0"),
    config_map(
        "orders-config",
        PRICING_SERVICE_URL="http://pricing:8080",
        LOG_LEVEL="info",
        TIMEOUT="10s",
    ),
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "pricing"}},
]


def test_removed_partner_endpoint_and_the_other_changes_are_named() -> None:
    delta = config_delta(PINNED, TODAY, head_revision=HEAD)

    assert delta.head_revision == HEAD
    assert delta.objects_added == ["Service/pricing"]
    assert delta.objects_removed == ["ConfigMap/partner-certs"]
    assert delta.objects_changed == ["ConfigMap/orders-config", "Deployment/orders"]
    assert delta.keys == [
        KeyDelta(
            object="ConfigMap/orders-config",
            added=["PRICING_SERVICE_URL"],
            removed=["PARTNER_ENDPOINT"],
            changed=["TIMEOUT"],
        )
    ]
    status = delta.model_dump(mode="json", by_alias=True)
    assert status["objectsRemoved"] == ["ConfigMap/partner-certs"]
    assert status["keys"][0]["removed"] == ["PARTNER_ENDPOINT"]


def test_result_is_sorted_and_independent_of_input_order() -> None:
    forward = config_delta(PINNED, TODAY, head_revision=HEAD)
    backward = config_delta(PINNED[::-1], TODAY[::-1], head_revision=HEAD)

    assert forward == backward


def test_namespace_and_server_fields_are_no_change() -> None:
    live = copy.deepcopy(PINNED)
    for obj in live:
        obj["metadata"].update(namespace="orders-nop", uid="1", resourceVersion="42")
        obj["status"] = {"observedGeneration": 1}
        obj["metadata"]["annotations"] = {
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "hotfix.gitops.dev/source": "somewhere-else.yaml, document 9",
        }

    delta = config_delta(PINNED, live, head_revision=HEAD)

    assert delta.empty
    assert delta.keys == []


def test_secret_keys_are_compared_across_data_and_string_data_without_values() -> None:
    pinned = [
        secret(
            "orders-credentials",
            data={"PARTNER_TOKEN": b64("pinned-partner-token"), "DB_PASSWORD": b64("hunter2")},
            stringData={"API_KEY": "pinned-api-key"},
        )
    ]
    head = [
        secret(
            "orders-credentials",
            data={"DB_PASSWORD": b64("rotated-password"), "API_KEY": b64("pinned-api-key")},
            stringData={"PRICING_TOKEN": "today-pricing-token"},
        )
    ]

    delta = config_delta(pinned, head, head_revision=HEAD)

    assert delta.objects_changed == ["Secret/orders-credentials"]
    assert delta.keys == [
        KeyDelta(
            object="Secret/orders-credentials",
            added=["PRICING_TOKEN"],
            removed=["PARTNER_TOKEN"],
            changed=["DB_PASSWORD"],  # API_KEY moved from stringData to data, same value
        )
    ]
    shown = delta.model_dump_json(by_alias=True)
    for value in ("pinned-partner-token", "hunter2", "rotated-password", "today-pricing-token"):
        assert value not in shown
        assert b64(value) not in shown


def test_config_map_binary_data_keys_count_as_keys() -> None:
    pinned = [{**config_map("assets", a="1"), "binaryData": {"logo.png": b64("old")}}]
    head = [{**config_map("assets", a="1"), "binaryData": {"logo.png": b64("new")}}]

    delta = config_delta(pinned, head, head_revision=HEAD)

    assert delta.keys == [KeyDelta(object="ConfigMap/assets", changed=["logo.png"])]


def test_a_changed_config_map_without_key_changes_has_no_key_entry() -> None:
    relabelled = config_map("orders-config", A="1")
    relabelled["metadata"]["labels"] = {"tier": "backend"}

    delta = config_delta([config_map("orders-config", A="1")], [relabelled], head_revision=HEAD)

    assert delta.objects_changed == ["ConfigMap/orders-config"]
    assert delta.keys == []
    assert json.loads(delta.model_dump_json(by_alias=True))["keys"] == []


# --- field by field, for people (hotfixctl diff) -----------------------------------------


def test_config_map_values_are_shown_pinned_to_today() -> None:
    pinned = [config_map("orders-config", LOG_LEVEL="info", PARTNER_ENDPOINT="https://p")]
    head = [config_map("orders-config", LOG_LEVEL="debug", PRICING_URL="http://pricing")]

    assert field_changes(pinned, head) == {
        "ConfigMap/orders-config": [
            FieldChange("LOG_LEVEL", '"info"', '"debug"'),
            FieldChange("PARTNER_ENDPOINT", '"https://p"', None),
            FieldChange("PRICING_URL", None, '"http://pricing"'),
        ]
    }


def test_secret_values_are_always_masked() -> None:
    pinned = [secret("db", data={"password": b64("old-s3cret"), "user": b64("orders")})]
    head = [secret("db", stringData={"password": "new-s3cret", "token": "t0ken"})]

    changes = field_changes(pinned, head)["Secret/db"]

    assert changes == [
        FieldChange("password", MASKED, MASKED),
        FieldChange("token", None, MASKED),
        FieldChange("user", MASKED, None),
    ]
    assert "s3cret" not in repr(changes) and "t0ken" not in repr(changes)


def test_other_objects_show_field_paths_with_list_items_by_name() -> None:
    old = deployment("registry.example.com/orders:1.4.0")
    old["metadata"]["labels"] = {"app": "orders"}
    new = copy.deepcopy(old)
    container = new["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "registry.example.com/orders:1.5.0"
    container["env"] = [{"name": "LOG_LEVEL", "value": "debug"}]
    new["spec"]["replicas"] = 2
    new["metadata"]["labels"]["app.kubernetes.io/name"] = "orders"

    assert field_changes([old], [new]) == {
        "Deployment/orders": [
            FieldChange('metadata.labels["app.kubernetes.io/name"]', None, '"orders"'),
            FieldChange("spec.replicas", None, "2"),
            FieldChange(
                "spec.template.spec.containers[app].env",
                None,
                '[{"name": "LOG_LEVEL", "value": "debug"}]',
            ),
            FieldChange(
                "spec.template.spec.containers[app].image",
                '"registry.example.com/orders:1.4.0"',
                '"registry.example.com/orders:1.5.0"',
            ),
        ]
    }


def test_unchanged_objects_and_long_values() -> None:
    same = config_map("same", A="1")
    long_old, long_new = config_map("big", X="a" * 500), config_map("big", X="b" * 500)

    changes = field_changes([same, long_old], [same, long_new])

    assert list(changes) == ["ConfigMap/big"]
    (change,) = changes["ConfigMap/big"]
    assert change.old is not None and len(change.old) == 120 and change.old.endswith("…")
