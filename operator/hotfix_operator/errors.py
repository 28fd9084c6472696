"""One error hierarchy for the whole operator.

    HotfixError                      every error we raise; .reason is a condition reason
    ├── SettingsError                a wrong operator setting: the operator does not start
    ├── InputError                   the user's resource or file is wrong: fix it, no retry
    │   ├── UnknownVersion           no ConfigRelease with that version
    │   ├── ReleaseAppMismatch       spec.release names a ConfigRelease of another app
    │   ├── PinningError             the historical revision cannot be determined
    │   ├── ContainerNotFound        no container matches the image to swap
    │   ├── NotPermitted             the request is not allowed where it was made
    │   │   └── HooksNotAllowed      spec.hooks: Run where no granting policy allows hooks
    │   └── PolicyViolation          the rendered config breaks a safety rule
    ├── ReleaseNotFound              no ConfigRelease yet: waited for, it may appear
    ├── ReleaseNotReady              the ConfigRelease is not resolved (yet): waited for
    ├── ReleaseChanged               the hotfix's release was deleted or replaced: no retry
    ├── TooManyHotfixes              the team's maxHotfixes are active: waited for, one ends
    ├── OwnershipConflict            the hotfix namespace is not this hotfix's: no retry
    ├── RenderError                  kustomize or YAML failed on the config folder
    ├── HookFailed                   a hook (e.g. a PreSync Job) failed: nothing more applied
    ├── GitBusy                      the namespace's git jobs are at their limit: retried
    ├── GitError                     git failed (network, timeout): retried with backoff
    │   ├── RepositoryNotAllowed     the URL is not allowlisted or is unsafe: no retry
    │   ├── RevisionNotFound         the commit or branch is not in the repository
    │   └── FetchTooLarge            a fetch outgrew HOTFIX_MAX_FETCH_BYTES: no retry
    └── ClusterError                 the Kubernetes API failed: retried with backoff
        └── Forbidden                RBAC denied the operator: the admin must grant it, no retry

Every message says what was wrong and what to do. Lower-level exceptions are
translated once, at the edge that caught them, with the cause chained
(``raise GitError(...) from exc``); the mapping to kopf's Temporary/Permanent
errors happens in the handlers only. Messages never contain credentials.
"""

from __future__ import annotations

import logging

__all__ = [
    "ClusterError",
    "ContainerNotFound",
    "FetchTooLarge",
    "Forbidden",
    "GitBusy",
    "GitError",
    "HookFailed",
    "HooksNotAllowed",
    "HotfixError",
    "InputError",
    "NotPermitted",
    "OwnershipConflict",
    "PinningError",
    "PolicyViolation",
    "ReleaseAppMismatch",
    "ReleaseChanged",
    "ReleaseNotFound",
    "ReleaseNotReady",
    "RenderError",
    "RepositoryNotAllowed",
    "RevisionNotFound",
    "SettingsError",
    "TooManyHotfixes",
    "UnknownVersion",
    "error_class",
]


class HotfixError(Exception):
    """Base of every error the operator raises on purpose."""

    #: The condition reason shown in status and Events (CamelCase, Kubernetes style).
    reason: str = "Error"
    #: True when retrying cannot help: the user (or the admin) must change something.
    permanent: bool = True
    #: How the operator's log files it (logs.py): ERROR is the operator's fault or its
    #: environment's (the API server, git, its RBAC); WARNING a user's mistake, or their
    #: config's; DEBUG a wait that ends by itself.
    log_level: int = logging.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SettingsError(HotfixError):
    """An operator setting (environment variable) is missing or invalid."""

    reason = "InvalidSettings"


class InputError(HotfixError):
    """The resource or file the user wrote is invalid; fixing it is the only remedy."""

    reason = "InvalidSpec"
    log_level = logging.WARNING


class UnknownVersion(InputError):
    """The requested baseVersion has no ConfigRelease."""

    reason = "UnknownVersion"


class ReleaseAppMismatch(InputError):
    """spec.release names a ConfigRelease whose spec.app is not the hotfix's spec.app."""

    reason = "ReleaseAppMismatch"


class PinningError(InputError):
    """The historical config revision cannot be determined with the chosen strategy."""

    reason = "PinningFailed"


class ContainerNotFound(InputError):
    """No container in the rendered workloads matches the image to be swapped."""

    reason = "ContainerNotFound"


class NotPermitted(InputError):
    """The request is not allowed in the namespace it was made in (e.g. a hotfix namespace)."""

    reason = "NotPermitted"


class HooksNotAllowed(NotPermitted):
    """spec.hooks: Run, but no HotfixPolicy granting the hotfix has allowHooks: true."""

    reason = "HooksNotAllowed"


class PolicyViolation(InputError):
    """The rendered config breaks a safety rule; nothing of it is applied."""

    reason = "PolicyViolation"


class ReleaseNotFound(HotfixError):
    """No ConfigRelease for the app exists yet; it may be applied a moment later."""

    reason = "ReleaseNotFound"
    log_level = logging.WARNING
    permanent = False


class ReleaseNotReady(HotfixError):
    """The ConfigRelease exists but the operator has not resolved its current spec yet."""

    reason = "ReleaseNotReady"
    log_level = logging.DEBUG
    permanent = False


class ReleaseChanged(HotfixError):
    """The release a running hotfix was built on was deleted or replaced by another one."""

    reason = "ReleaseChanged"
    log_level = logging.WARNING


class TooManyHotfixes(HotfixError):
    """The team namespace has as many active hotfixes as its HotfixPolicy allows; this one
    waits (Pending) until one of them expires or is deleted."""

    reason = "TooManyHotfixes"
    log_level = logging.WARNING
    permanent = False


class OwnershipConflict(HotfixError):
    """The hotfix namespace exists but was not created for this HotfixDeployment (UID)."""

    reason = "OwnershipConflict"
    log_level = logging.WARNING


class RenderError(HotfixError):
    """kustomize or the YAML parser failed on the app's config folder."""

    reason = "RenderFailed"
    log_level = logging.WARNING


class HookFailed(HotfixError):
    """A hook the hotfix ran (a PreSync, Sync or PostSync Job or Pod) failed."""

    reason = "HookFailed"
    log_level = logging.WARNING


class GitBusy(HotfixError):
    """The namespace already runs HOTFIX_GIT_CONCURRENCY_PER_NAMESPACE git jobs; this one
    is retried later (git itself did not fail)."""

    reason = "GitBusy"
    log_level = logging.DEBUG
    permanent = False


class GitError(HotfixError):
    """A git operation failed (network, timeout, corrupt mirror); worth retrying."""

    reason = "GitFailed"
    permanent = False


class RepositoryNotAllowed(GitError):
    """The repository URL is not in the allowlist or uses an unsafe transport."""

    reason = "RepositoryNotAllowed"
    log_level = logging.WARNING
    permanent = True


class RevisionNotFound(GitError):
    """A commit or branch does not exist in the repository (e.g. history rewritten)."""

    reason = "RevisionNotFound"
    log_level = logging.WARNING
    permanent = True


class FetchTooLarge(GitError):
    """A fetch was stopped: it brought more than HOTFIX_MAX_FETCH_BYTES into the mirror.

    Permanent: retrying downloads the same again. A raised limit restarts the operator,
    which then resumes every release and hotfix."""

    reason = "FetchTooLarge"
    log_level = logging.WARNING
    permanent = True


class ClusterError(HotfixError):
    """The Kubernetes API refused or failed a request; worth retrying."""

    reason = "ClusterError"
    permanent = False


class Forbidden(ClusterError):
    """The API server denied the operator a request (HTTP 403): its RBAC must be extended."""

    reason = "Forbidden"
    permanent = True


def error_class(reason: str) -> type[HotfixError]:
    """The error class whose reason is ``reason`` (HotfixError when none is).

    So that an error reported on one object (a ConfigRelease) can be raised again, with
    the same reason and permanence, for another that depends on it (its hotfixes).
    """
    pending: list[type[HotfixError]] = [HotfixError]
    while pending:
        cls = pending.pop()
        if cls.reason == reason:
            return cls
        pending.extend(cls.__subclasses__())
    return HotfixError
