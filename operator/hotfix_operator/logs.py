"""The operator's log: one line per record, the object it is about, levels that mean something.

* **Which object**: kopf's per-object records carry a reference (``k8s_ref``); each line
  starts with ``[namespace/name]`` as kopf's own formatter does (JSON: an ``object`` with
  kind, namespace, name and uid), so ``grep '\\[team-orders/orders-1-4-1\\]'`` finds a
  hotfix's story.
* **Levels**: an operator fault is ERROR; a user's mistake (an invalid spec, an unknown
  version, a config that does not render) is WARNING, logged once by the reconciler with
  its reason; waiting (a release not resolved yet, a namespace being deleted) is DEBUG.
  kopf logs every handler outcome itself — a retry at ERROR, a success at INFO — so its
  outcome lines are lowered to DEBUG here, where the
  reconciler already said what happened (an exception that is not ours keeps ERROR, with
  its traceback).
* **Safe**: names from the config repository and the stderr of git and kustomize are
  quoted in messages, so control characters are escaped (``printable``); a traceback
  keeps its lines, each exception's message is one line. JSON lines escape by themselves.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

from hotfix_operator.errors import error_class
from hotfix_operator.printable import printable

__all__ = ["JsonFormatter", "KopfOutcomes", "TextFormatter", "log_handler"]

#: kopf's outcome of a handler run: ``Handler 'x' failed temporarily: <Reason>: <message>``.
_KOPF_FAILED = re.compile(r"failed (?:temporarily|permanently): (?P<error>.*)", re.DOTALL)
#: kopf's lines that only repeat what the reconciler said: a handler ran fine, or a
#: change was processed (``Creation is processed: 1 succeeded; 0 failed.``).
_KOPF_ROUTINE = re.compile(r"(?: succeeded\.| is processed: .*)$")
#: How the handlers word a wait that is no error (kopf.TemporaryError's message).
WAITING = "waiting"


def _object(record: logging.LogRecord) -> dict[str, Any] | None:
    ref = getattr(record, "k8s_ref", None)
    return ref if isinstance(ref, dict) and ref.get("name") else None


def _prefix(ref: dict[str, Any]) -> str:
    namespace = ref.get("namespace")
    return f"[{namespace}/{ref['name']}]" if namespace else f"[{ref['name']}]"


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _exception_text(exc_info: Any) -> str:
    """The traceback's own lines stay; each exception's message is one escaped line."""
    messages: set[str] = set()
    pending: list[BaseException | None] = [exc_info[1]]
    seen: set[int] = set()
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        messages.update(traceback.format_exception_only(type(exc), exc))
        pending += [exc.__cause__, exc.__context__]
    text = "".join(
        printable(chunk.removesuffix("\n")) + "\n"
        if chunk in messages
        else "".join(printable(line) + "\n" for line in chunk.splitlines())
        for chunk in traceback.format_exception(*exc_info)
    )
    return text.removesuffix("\n")


class TextFormatter(logging.Formatter):
    """``2026-12-02T10:00:00.123Z WARNING [team-orders/orders-1-4-1] UnknownVersion: …``;
    a record about no object names its logger instead."""

    def format(self, record: logging.LogRecord) -> str:
        ref = _object(record)
        where = _prefix(ref) if ref else f"{record.name}:"
        line = printable(f"{_time(record)} {record.levelname} {where} {record.getMessage()}")
        if record.exc_info:
            line += "\n" + _exception_text(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line for log shippers (``HOTFIX_LOG_FORMAT=json``): time,
    level, logger, message, the object (kind, namespace, name, uid) and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if ref := _object(record):
            line["object"] = {
                key: ref.get(key)
                for key in ("apiVersion", "kind", "namespace", "name", "uid")
                if ref.get(key)
            }
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class KopfOutcomes(logging.Filter):
    """kopf's own outcome lines at the level they deserve, then the threshold applied
    (a lowered record must not slip through because kopf logged it at ERROR)."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("kopf") and not record.exc_info:
            level = self._level(record.getMessage())
            if level is not None and level < record.levelno:
                record.levelno, record.levelname = level, logging.getLevelName(level)
        return record.levelno >= self.level

    @staticmethod
    def _level(message: str) -> int | None:
        if _KOPF_ROUTINE.search(message):
            return logging.DEBUG
        failed = _KOPF_FAILED.search(message)
        if failed is None:
            return None
        error = failed.group("error")
        if error.startswith(WAITING):
            return logging.DEBUG
        reason = error.partition(":")[0]
        if error_class(reason).reason == reason:
            # Ours: the reconciler logged it, with the object and at its level.
            return logging.DEBUG
        return None


def log_handler(
    stream: TextIO, *, json_lines: bool = False, level: int = logging.INFO
) -> logging.Handler:
    """The operator's log: every record of every logger (kopf's too) to ``stream``."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(KopfOutcomes(level))
    return handler
