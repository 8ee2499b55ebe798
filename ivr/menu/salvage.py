"""What can be read of a menu file the model refused, so the cross-checks still run on it.

pydantic refuses a whole file for one bad value, and the checks of :mod:`ivr.menu.checks`
(references, keys, translations) need a model: without this, a bad phone number would hide an
unknown ``goto`` until the author fixed the number and ran ``ivr validate`` again.

Every part is validated on its own, as the model would: a node, an option, an announcement, a
field. A part that passes is kept exactly as the model makes it; a value that fails is left out
(``None``, or the field's default where ``None`` is not allowed), and its own problem is the one
pydantic reports. Lists keep their positions, so every problem found here keeps its path. The
result is only ever given to :func:`~ivr.menu.checks.check`: it is never served.
"""

from __future__ import annotations

import re
import types
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from .model import NODE_ID, MenuFile, Node


def salvage(data: Any) -> tuple[MenuFile, set[str]] | None:
    """The readable parts of menu ``data`` (parsed JSON) and every node id it names.

    None when there is nothing to check: the file is not a JSON object.
    """
    if not isinstance(data, dict):
        return None
    raw_nodes = data.get("nodes")
    raw_nodes = raw_nodes if isinstance(raw_nodes, dict) else {}
    nodes = {}
    for node_id, raw in raw_nodes.items():
        kind = raw.get("kind") if isinstance(raw, dict) else None
        cls = _node_classes().get(kind) if isinstance(kind, str) else None
        # A node of no known kind cannot be read at all; its id still counts as a node.
        if cls is not None and re.match(NODE_ID, node_id):
            nodes[node_id] = model(cls, raw)
    values = {}
    for name, info in MenuFile.model_fields.items():
        key = info.alias or name
        if name == "nodes":
            values[name] = nodes
        elif key in data:
            values[name] = _value(info, data[key])
        else:
            values[name] = _absent(info)
    return MenuFile.model_construct(**values), {str(k) for k in raw_nodes}


def model(cls: type[BaseModel], raw: Any) -> BaseModel:
    """``raw`` as a ``cls``: validated whole when it can be, else field by field."""
    raw = raw if isinstance(raw, dict) else {}
    try:
        return cls.model_validate(raw)
    except ValidationError:
        pass
    values = {}
    for name, info in cls.model_fields.items():
        key = info.alias or name
        values[name] = _value(info, raw[key]) if key in raw else _absent(info)
    # Every field is given, so the checks can read any of them.
    return cls.model_construct(**values)


def _absent(info: FieldInfo) -> Any:
    """What the model makes of a field the file leaves out (an empty list or mapping when
    it is a required one, so the checks can still go through it)."""
    if not info.is_required():
        return info.get_default(call_default_factory=True)
    origin = get_origin(_unwrap(info.annotation)[0])
    return [] if origin is list else {} if origin is dict else None


def _value(info: FieldInfo, raw: Any) -> Any:
    """One field's value: as the model reads it, else what can be read inside it."""
    try:
        return _adapter(info).validate_python(raw)
    except ValidationError:
        pass
    annotation, optional = _unwrap(info.annotation)
    failed = None if optional else _absent(info)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model(annotation, raw) if isinstance(raw, dict) else failed
    origin, args = get_origin(annotation), get_args(annotation)
    item = args[-1] if args else None
    if not (isinstance(item, type) and issubclass(item, BaseModel)):
        return failed
    if origin is list and isinstance(raw, list):
        # Each item in its place: a broken option stays options[1], so options[2] keeps its path.
        return [model(item, entry) for entry in raw]
    if origin is dict and isinstance(raw, dict):
        return {str(k): model(item, v) for k, v in raw.items() if isinstance(v, dict)}
    return failed


def _adapter(info: FieldInfo) -> TypeAdapter[Any]:
    """Validates one field's value with its constraints (ge, le, min_length...)."""
    annotation = info.annotation
    return TypeAdapter(Annotated[annotation, *info.metadata] if info.metadata else annotation)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The type inside ``X | None`` (and whether None is allowed), and inside ``Annotated``."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _unwrap(rest[0])[0], len(rest) < len(args)
        return annotation, type(None) in args
    return annotation, False


@cache
def _node_classes() -> dict[str, type[BaseModel]]:
    """Each node kind's model, by the ``kind`` it declares (from the model's own union)."""
    union = get_args(Node)[0]
    classes: dict[str, type[BaseModel]] = {}
    for cls in get_args(union):
        kind = cls.model_fields["kind"].annotation
        if get_origin(kind) is Literal:
            classes[get_args(kind)[0]] = cls
    return classes
