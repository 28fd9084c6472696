"""The one error the control-plane launcher raises.

The launcher is test tooling, not part of the operator, so it does not use the
operator's ``HotfixError`` tree: its failures (no Go, a failed build, a component
that did not come up) are for the developer at the terminal, never a condition.
"""

from __future__ import annotations

__all__ = ["ControlPlaneError"]


class ControlPlaneError(RuntimeError):
    """Building, starting or stopping the local control plane failed; the message says why."""
