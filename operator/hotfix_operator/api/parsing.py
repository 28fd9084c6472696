"""Kubernetes objects (dicts) → models, with errors a person can act on in one line.

``ConfigRelease orders-1.4.0: spec.revisions.prd: must be a full 40-character commit
SHA (`git rev-parse <short SHA>` prints it), got 'abc'`` rather than pydantic's multi-line report.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from hotfix_operator.api.common import PATTERN_HINTS, TIME_PATTERN
from hotfix_operator.errors import InputError

__all__ = ["describe_error", "parse_object"]

_Model = TypeVar("_Model", bound=BaseModel)

_TIME_ERRORS = frozenset(
    {"datetime_type", "datetime_parsing", "datetime_from_date_parsing", "timezone_aware"}
)
_SHOWN_TYPES = (str, int, float, bool, type(None))


def parse_object(model: type[_Model], obj: Mapping[str, Any]) -> _Model:
    """The model of a Kubernetes object; InputError naming the resource and every bad field.

    ``model.__name__`` is the kind shown in the message.
    """
    kind = model.__name__
    if not isinstance(obj, Mapping):
        raise InputError(
            f"{kind}: expected a Kubernetes object (a mapping with apiVersion, kind, metadata "
            f"and spec), got {type(obj).__name__}"
        )
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    shown = name if isinstance(name, str) and name else "(without metadata.name)"
    try:
        return model.model_validate(dict(obj))
    except ValidationError as exc:
        problems = "; ".join(describe_error(error, model) for error in exc.errors())
        raise InputError(f"{kind} {shown}: {problems}") from exc


def describe_error(error: ErrorDetails, model: type[BaseModel]) -> str:
    """One pydantic error as ``field.path: what is wrong, got 'value'``."""
    loc = error["loc"]
    where = _path(loc)
    kind, ctx = error["type"], error.get("ctx") or {}
    value = error.get("input")
    got = f", got {_show(value)}" if isinstance(value, _SHOWN_TYPES) else ""
    if kind == "missing":
        return f"{where}: is required"
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        parent = _path(loc[:-1])
        hint = f" ({parent} accepts: {', '.join(allowed)})" if allowed else ""
        return f"{where}: unknown field, check its spelling and indentation{hint}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return f"{where}: {PATTERN_HINTS.get(pattern, f'must match {pattern}')}{got}"
    if kind in ("enum", "literal_error"):
        return f"{where}: must be {ctx.get('expected', '?')}{got}"
    if kind in _TIME_ERRORS:
        return f"{where}: {PATTERN_HINTS[TIME_PATTERN]}{got}"
    if kind == "value_error":  # our validators' messages already name the value
        return f"{where}: {ctx.get('error', error['msg'])}"
    message = error["msg"]
    return f"{where}: {message[:1].lower()}{message[1:]}{got}"


def _path(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(the object)"


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The wire names a (nested) model accepts at ``loc``, for "did you mean" hints."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        field = next(
            (f for name, f in current.model_fields.items() if part in (name, f.alias)), None
        )
        current = _model_in(field.annotation) if field is not None else None
    if current is None:
        return []
    return [field.alias or name for name, field in current.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``X | None``, ``list[X]`` or ``Annotated[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin is Annotated:
        return _model_in(get_args(annotation)[0])
    if origin in (Union, types.UnionType, list, tuple):
        for arg in get_args(annotation):
            if (found := _model_in(arg)) is not None:
                return found
    return None
