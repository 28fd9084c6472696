"""What a hostile tenant tries against the HotfixPolicy, as one table for the CLI
(``hotfixctl plan --policy``) and the operator tests: each attack, the reason it is
refused with, and what the one error line must name.

The attacker is a team whose policy grants ``apps/orders`` of one repository, nop only;
the victim is the payments team, whose folder ``apps/payments`` (with a Secret) sits in
the same repository. What a render may ask of the cluster (privileged pods, hostPath,
externalIPs, node pinning, …) is refused by the rows of tests/bad_inputs.py, which run
through the same two paths; taking over another team's hotfix namespace is refused by
the OwnershipConflict tests of tests/integration/test_operator.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tests.bad_inputs import Patch, nothing, set_at
from tests.gitrepos import Scenario

#: The label that selects the attacker's namespace in its team's policy.
TEAM_LABEL = "tenancy.tests.hotfix.gitops.dev/team"
#: The victim's Secret value: it must never reach the attacker in any form.
VICTIM_PASSWORD = "payments-db-password-7Q2x"

VICTIM_FILES = {
    "apps/payments/secret.yaml": (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: payments-db\n"
        f"stringData:\n  password: {VICTIM_PASSWORD}\n"
    ),
    "apps/payments/configmap.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: payments-config\n"
        "data:\n  DB_HOST: payments-db.internal\n"
    ),
}


#: The orders app as a kustomization (its plain files listed).
ORDERS_KUSTOMIZATION = (
    "resources:\n  - configmap.yaml\n  - deployment.yaml\n  - service.yaml\n  - route.yaml\n"
)
#: Team orders' folder made an overlay over a shared base (what sharedPaths grants).
SHARED_PARTNER_BASE = {
    "bases/partner/kustomization.yaml": "resources: [partner.yaml]\n",
    "bases/partner/partner.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: partner-settings}\n"
        "data: {PARTNER_REGION: eu-central}\n"
    ),
    "apps/orders/kustomization.yaml": ORDERS_KUSTOMIZATION + "  - ../../bases/partner\n",
}
#: Team orders' folder made an overlay over team payments' folder.
STEALING_OVERLAY = {
    "apps/payments/kustomization.yaml": "resources: [secret.yaml, configmap.yaml]\n",
    "apps/orders/kustomization.yaml": ORDERS_KUSTOMIZATION + "  - ../payments\n",
}


@dataclass(frozen=True)
class Attack:
    id: str
    #: the condition/Event reason of the refusal
    reason: str
    #: what the one error line must name
    fragments: tuple[str, ...]
    #: files committed on nop (the release records that commit; a hostile tenant then
    #: edits the recorded ConfigRelease by hand, as ``release`` does)
    files: Mapping[str, str] = field(default_factory=dict)
    symlinks: Mapping[str, str] = field(default_factory=dict)
    release: Patch = nothing
    hotfix: Patch = nothing
    #: changes to the attacker team's policy spec
    policy: Mapping[str, Any] = field(default_factory=dict)
    #: the attacker's namespace is one the policy does not select
    unselected: bool = False
    #: the ConfigRelease itself is refused: nothing of it is fetched, rendered or stored
    release_refused: bool = False

    def nop_revision(self, scenario: Scenario) -> str | None:
        if not self.files:
            return None
        return scenario.repo.commit(
            "nop",
            f"tenancy: {self.id}",
            date=scenario.released_at + timedelta(days=20),
            files=dict(self.files),
            symlinks=dict(self.symlinks),
        )


def team_policy(name: str, team: str, scenario: Scenario, **changes: Any) -> dict[str, Any]:
    """The attacker team's policy: its own folder of the scenario's repository, nop only."""
    return {
        "apiVersion": "hotfix.gitops.dev/v1alpha1",
        "kind": "HotfixPolicy",
        "metadata": {"name": name},
        "spec": {
            "namespaceSelector": {"matchLabels": {TEAM_LABEL: team}},
            "sources": [{"repoURL": scenario.url, "paths": ["apps/orders"]}],
            "environments": ["nop"],
            "maxHotfixes": 3,
            **changes,
        },
    }


ATTACKS = [
    Attack(
        "another-teams-folder",
        "NotPermitted",
        ("path apps/payments", "grants that repository for paths apps/orders only"),
        files=VICTIM_FILES,
        release=set_at("spec.source.path", "apps/payments"),
        release_refused=True,
    ),
    Attack(
        "another-teams-folder-through-dot-dot",
        "NotPermitted",
        (
            "apps/orders/kustomization.yaml: resources entry '../payments' reaches folder "
            "apps/payments",
            "grants paths apps/orders and sharedPaths bases/*, not apps/payments",
            "(rule: every folder a kustomization reaches",
        ),
        files={**VICTIM_FILES, **STEALING_OVERLAY},
        policy={
            "sources": [{"repoURL": "REPO", "paths": ["apps/orders"], "sharedPaths": ["bases/*"]}]
        },
    ),
    Attack(
        "another-teams-folder-through-a-symlink",
        "PolicyViolation",
        (
            "apps/orders/kustomization.yaml: resources entry 'shared/payments' goes through "
            "apps/orders/shared, a symlink",
        ),
        files={
            **VICTIM_FILES,
            **STEALING_OVERLAY,
            "apps/orders/kustomization.yaml": ORDERS_KUSTOMIZATION + "  - shared/payments\n",
        },
        symlinks={"apps/orders/shared": ".."},
    ),
    Attack(
        "a-glob-never-crosses-a-folder",
        "NotPermitted",
        ("path apps/orders/payments", "for paths apps/* only"),
        files={f"apps/orders/payments/{k.rsplit('/', 1)[1]}": v for k, v in VICTIM_FILES.items()},
        release=set_at("spec.source.path", "apps/orders/payments"),
        policy={"sources": [{"repoURL": "REPO", "paths": ["apps/*"]}]},
        release_refused=True,
    ),
    Attack(
        "a-repository-that-only-starts-like-the-granted-one",
        "NotPermitted",
        ("grants no repository", "-evil"),
        release=lambda body: set_at(
            "spec.source.repoURL", body["spec"]["source"]["repoURL"] + "-evil"
        )(body),
        release_refused=True,
    ),
    Attack(
        "a-namespace-no-policy-selects",
        "NotPermitted",
        ("no HotfixPolicy selects namespace", "spec.namespaceSelector matches those labels"),
        unselected=True,
        release_refused=True,
    ),
    Attack(
        "prd-config-not-granted",
        "NotPermitted",
        ("does not grant environment prd", "spec.environments: nop"),
        hotfix=set_at("spec.environment", "prd"),
    ),
    Attack(
        "a-kind-the-policy-does-not-allow",
        "NotPermitted",
        ("does not allow Route.route.openshift.io", "spec.allowedKinds"),
        policy={"allowedKinds": ["ConfigMap", "Secret", "Service", "Deployment.apps"]},
    ),
    Attack(
        "a-ttl-beyond-the-policys-maximum",
        "InvalidSpec",
        ("spec.ttl 3h is longer than the maximum 2h", "spec.maxTTL"),
        hotfix=set_at("spec.ttl", "3h"),
        policy={"maxTTL": "2h"},
    ),
]


def policy_for(attack: Attack, name: str, team: str, scenario: Scenario) -> dict[str, Any]:
    """The attacker team's policy with the attack's changes (``REPO``: the scenario's)."""
    changes = dict(attack.policy)
    if "sources" in changes:
        changes["sources"] = [
            {
                **source,
                "repoURL": scenario.url if source["repoURL"] == "REPO" else source["repoURL"],
            }
            for source in changes["sources"]
        ]
    return team_policy(name, team, scenario, **changes)
