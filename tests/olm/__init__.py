"""The operator framework's own checks of the OLM bundle, built from its Go module.

``operator-verify`` (the bundle, CSV, CRD, OperatorHub and object validators of
``github.com/operator-framework/api``) and OLM's ClusterServiceVersion CRD from the same
module's ``crds/`` — built once per machine and cached beside the control plane, the way
``tests/controlplane`` builds it.
"""

from __future__ import annotations

from tests.olm.building import OlmTools, ensure_olm_tools
from tests.olm.verifying import Verdict, verify_bundle

__all__ = ["OlmTools", "Verdict", "ensure_olm_tools", "verify_bundle"]
