"""The one status writer: typed status, conditions, Events, and the one error path.

Every status write goes through the pydantic status models, so a mistyped field is a
type error here rather than a key the API server silently prunes. A report keeps the
status as last written and patches only when something changed; fields that became
empty are sent as null, so a JSON merge patch removes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from hotfix_operator.api.common import ApiModel, Condition, ConditionStatus
from hotfix_operator.api.conditions import ConditionType, Phase, Reason, find_condition
from hotfix_operator.api.conditions import set_condition as _set_condition
from hotfix_operator.api.group import Resource
from hotfix_operator.cluster.resources import patch_status
from hotfix_operator.errors import HotfixError
from hotfix_operator.printable import printable
from hotfix_operator.reconciling.context import Logger, Operator

__all__ = ["Report"]

S = TypeVar("S", bound=ApiModel)


class Report(Generic[S]):
    """The status of one object as this reconciliation sees it, and how to tell people."""

    def __init__(
        self,
        op: Operator,
        resource: Resource,
        body: Mapping[str, Any],
        model: type[S],
        logger: Logger,
    ) -> None:
        self.op = op
        self.resource = resource
        self.body = body
        self.logger = logger
        meta = body.get("metadata") or {}
        self.name = str(meta.get("name"))
        self.namespace = str(meta.get("namespace"))
        self.generation: int | None = meta.get("generation")
        try:
            self.status: S = model.model_validate(body.get("status") or {})
        except ValidationError:
            # Edited by hand into something invalid: start again from an empty status.
            logger.warning("ignoring the invalid status of %s %s", resource.kind, self.name)
            self.status = model()
        self._written: S = self.status
        self._tell_metrics()

    # -- status ----------------------------------------------------------------------

    @property
    def conditions(self) -> list[Condition]:
        return list(getattr(self.status, "conditions", []))

    def update(self, **fields: Any) -> None:
        """Set status fields (snake_case model names, typed values)."""
        self.status = self.status.model_copy(update=fields)

    def condition(
        self, type_: ConditionType, status: bool | None, reason: Reason | str, message: str
    ) -> bool:
        """Set a condition; True when its status flipped (or it is new). The message is
        shown by ``kubectl get -o wide`` (MESSAGE) and the console: control characters escaped."""
        before = find_condition(self.conditions, type_)
        conditions = _set_condition(
            self.conditions,
            type_,
            status,
            Reason(reason),
            printable(message),
            generation=self.generation,
        )
        self.update(conditions=conditions)
        now_status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
        return before is None or before.status is not now_status

    def clear(self, *types: ConditionType) -> None:
        """Remove abnormal-true conditions (Reconciling, Stalled) that no longer hold."""
        self.update(conditions=[c for c in self.conditions if c.type not in types])

    def flush(self) -> None:
        """Patch status when it differs from what was last written (or read)."""
        if self.status == self._written:
            return
        patch_status(
            self.op.cluster,
            plural=self.resource.plural,
            namespace=self.namespace,
            name=self.name,
            status=self.status.model_dump(mode="json", by_alias=True),
        )
        self._written = self.status
        self._tell_metrics()

    def _tell_metrics(self) -> None:
        """A HotfixDeployment's phase and expiry, as last read or written, for /metrics."""
        phase = getattr(self.status, "phase", None)
        if phase is not None:
            expires_at = getattr(self.status, "expires_at", None)
            self.op.metrics.hotfixes.seen(self.namespace, self.name, str(phase), expires_at)

    # -- people ----------------------------------------------------------------------

    def event(self, reason: Reason, message: str, *, warning: bool = False) -> None:
        self.op.events.record(self.body, "Warning" if warning else "Normal", reason, message)

    def progressing(self, reason: Reason, message: str) -> None:
        """kstatus: work under way (Reconciling True, not Stalled). Until Ready was first
        decided it is Unknown with the same reason, so `kubectl get` shows READY Unknown,
        REASON Resolving from the first status on (as Flux does), never blank columns."""
        self.condition(ConditionType.RECONCILING, True, reason, message)
        self.clear(ConditionType.STALLED)
        ready = find_condition(self.conditions, ConditionType.READY)
        if ready is None or ready.status is ConditionStatus.UNKNOWN:
            self.condition(ConditionType.READY, None, reason, message)

    def settled(self) -> None:
        """kstatus: nothing left to do for this generation."""
        self.clear(ConditionType.RECONCILING, ConditionType.STALLED)
        self.update(observed_generation=self.generation)

    def failed(
        self,
        exc: HotfixError,
        condition: ConditionType,
        *,
        phase: Phase | None = None,
        ready_reason: Reason | None = None,
    ) -> None:
        """The one error path: the step's condition, Ready, Stalled or Reconciling, the
        phase, one (aggregated) Warning Event, a log line, and the status written.

        A permanent error stalls (someone must act); a transient one keeps Reconciling
        True while kopf retries with backoff.
        """
        reason = Reason(exc.reason)
        message = str(exc)
        if condition is not ConditionType.READY:
            self.condition(condition, False, reason, message)
        self.condition(ConditionType.READY, False, ready_reason or reason, message)
        if exc.permanent:
            self.condition(ConditionType.STALLED, True, reason, message)
            self.clear(ConditionType.RECONCILING)
        else:
            self.condition(ConditionType.RECONCILING, True, reason, f"retrying: {message}")
            self.clear(ConditionType.STALLED)
        fields: dict[str, Any] = {"observed_generation": self.generation}
        if phase is not None:
            fields["phase"] = phase
        self.update(**fields)
        self.event(reason, message, warning=True)
        self.op.metrics.failed(self.resource.kind, reason)
        # Once, at the error's level: a user's mistake WARNING, a wait DEBUG, a fault ERROR
        # (kopf's own line about the retry is lowered to DEBUG: logs.py).
        self.logger.log(exc.log_level, "%s: %s", reason, message)
        self.flush()
