//go:build tools

// Pins the operator framework's validators (cmd/operator-verify) and OLM's own CRDs
// (crds/ of the same module) for tests/olm/building.py; nothing here is compiled into
// the operator.
package tools

import _ "github.com/operator-framework/api/cmd/operator-verify"
