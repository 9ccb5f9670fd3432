"""Typed records and their JSON form: a Record is a dataclass whose to_dict() is one JSON object, its fields in order."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import field, fields
from typing import Any, Self

import numpy as np


def jsonable(value: Any) -> Any:
    """A copy of `value` made of dict/list/str/int/float/bool/None only; NaN and infinities become None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def optional(load: Callable[[Any], Any] | None = None) -> Any:
    """A field left out of the JSON while it is None (a part that this run did not reach)."""
    return field(default=None, metadata={"optional": True, "load": load})


def nested(load: Callable[[Any], Any]) -> Any:
    """A field whose JSON value `load` turns back into records."""
    return field(metadata={"load": load})


def each(load: Callable[[Any], Any]) -> Callable[[list], list]:
    """`load` applied to every item of a JSON list."""
    return lambda items: [load(item) for item in items]


def by_name(load: Callable[[Any], Any]) -> Callable[[dict], dict]:
    """`load` applied to every value of a JSON object."""
    return lambda entries: {name: load(entry) for name, entry in entries.items()}


def plain(value: Any) -> Any:
    """Records inside `value` as their dicts."""
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class Record:
    """A dataclass that is one object of the result JSON: its fields in order, optional ones only when set."""

    def to_dict(self) -> dict:
        """The record as its JSON object."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)  # type: ignore[arg-type]
                if not (f.metadata.get("optional") and getattr(self, f.name) is None)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The record from its JSON object (keys it does not know are left out)."""
        values = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.init and f.name in data:
                load, value = f.metadata.get("load"), data[f.name]
                values[f.name] = value if load is None or value is None else load(value)
        return cls(**values)
