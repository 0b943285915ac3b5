"""Typed option classes: the one declaration of a component's options.

An extractor backend, a model family or a config block declares its options as a dataclass whose
fields are made with :func:`option` (type annotation, default, constraints, a one-line
description). From that one class come:

- its JSON schema (:meth:`Options.json_schema`), which ``scripts/gen_schema.py`` writes into
  ``schemas/config.schema.yaml`` (a test checks the committed file equals the generated one);
- validation with each problem named by its config path and, for a choice, the allowed values
  (:meth:`Options.from_dict`), before any job runs and again when a job builds the component;
- the defaults (filled into the config, so a changed default reruns the jobs it changes);
- the README's option tables (:func:`markdown_table`).

Types: ``bool``, ``int``, ``float``, ``str``, ``Literal[...]`` (a choice), ``list[int]`` etc.,
and unions with ``None`` (``int | None``: the component picks the value, e.g. the model's).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Literal, get_args, get_origin, get_type_hints

import jsonschema

# JSON-schema keywords an option may carry besides its type
CONSTRAINTS = (
    "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf", "minItems",
    "maxItems", "uniqueItems", "minLength", "pattern", "items",
)


class OptionError(ValueError):
    """Options that do not validate; ``problems`` lists one message per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid options:\n  - " + "\n  - ".join(self.problems))


def option(default: Any = MISSING, description: str = "", **constraints: Any):
    """A dataclass field with its schema. ``default`` omitted: the option is required."""
    if not description.strip():
        raise TypeError("every option needs a description")
    unknown = set(constraints) - set(CONSTRAINTS)
    if unknown:
        raise TypeError(f"unknown constraint(s) {sorted(unknown)}; known: {list(CONSTRAINTS)}")
    meta = {"description": " ".join(description.split()), "constraints": constraints}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: copy.deepcopy(d), metadata=meta)
    return field(default=default, metadata=meta)


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON schema of a type annotation."""
    origin = get_origin(tp)
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        nullable = type(None) in args
        rest = [a for a in args if a is not type(None)]
        parts = [type_schema(a) for a in rest]
        if len(parts) == 1 and "enum" in parts[0]:
            return {"enum": parts[0]["enum"] + ([None] if nullable else [])}
        if all(set(p) == {"type"} and isinstance(p["type"], str) for p in parts):
            names = [p["type"] for p in parts] + (["null"] if nullable else [])
            return {"type": names}
        out = {"anyOf": parts + ([{"type": "null"}] if nullable else [])}
        return out
    if origin is list:
        (item,) = get_args(tp) or (Any,)
        return {"type": "array", "items": type_schema(item) if item is not Any else {}}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if tp in simple:
        return {"type": simple[tp]}
    if tp is dict or origin is dict:
        return {"type": "object"}
    raise TypeError(f"no JSON schema for the option type {tp!r}")


def describe_error(err: jsonschema.ValidationError, prefix: tuple = ()) -> str:
    """One line for a schema error: the key's dotted path, then what is wrong (the allowed keys
    of an object, the allowed values of a choice)."""
    where = ".".join(str(p) for p in (*prefix, *err.absolute_path)) or "(top level)"
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"{where}: unknown key(s) {', '.join(map(repr, extra))}{hint}"
    if err.validator == "enum":
        return f"{where}: {err.instance!r} is not allowed; allowed values: {err.validator_value}"
    if err.validator == "const":
        return f"{where}: {err.instance!r} is not allowed; allowed values: [{err.validator_value!r}]"
    return f"{where}: {err.message}"


@dataclass
class Options:
    """Base of the option classes. Subclasses are dataclasses whose fields are :func:`option`\\ s;
    :meth:`check` adds the rules between options that a schema cannot state."""

    # keys a config block may carry that are not options (e.g. ``backend``): from_dict drops them
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        """A choice outside its allowed values fails at construction, from code as from a config
        (the other constraints are checked by :meth:`problems`)."""
        bad = [
            f"{name}: {getattr(self, name)!r} is not allowed; allowed values: {allowed}"
            for name, allowed in _choices(type(self)).items()
            if getattr(self, name) not in allowed
        ]
        if bad:
            raise OptionError(bad)

    def check(self) -> list[tuple[str, str]]:
        """Problems between options, as (key, message). None by default."""
        return []

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def option_fields(cls) -> list[dataclasses.Field]:
        return [f for f in fields(cls) if f.init and "description" in f.metadata]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        out = {}
        for f in cls.option_fields():
            if f.default is not MISSING:
                out[f.name] = copy.deepcopy(f.default)
            elif f.default_factory is not MISSING:
                out[f.name] = f.default_factory()
        return out

    @classmethod
    def json_schema(cls, extra_properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """An object schema: every option with its type, constraints, default and description;
        unknown keys rejected. ``extra_properties`` (e.g. a ``backend`` const) go first."""
        hints = get_type_hints(cls)
        defaults = cls.defaults()
        props: dict[str, Any] = dict(extra_properties or {})
        required = []
        for f in cls.option_fields():
            s = type_schema(hints[f.name])
            for key, value in f.metadata["constraints"].items():
                if key == "items":
                    s["items"] = {**s.get("items", {}), **value}
                else:
                    s[key] = value
            if f.name in defaults:
                s["default"] = defaults[f.name]
            else:
                required.append(f.name)
            s["description"] = f.metadata["description"]
            props[f.name] = s
        out: dict[str, Any] = {"type": "object", "additionalProperties": False}
        if cls.__doc__:
            out["description"] = " ".join(cls.__doc__.strip().split("\n\n")[0].split())
        if required:
            out["required"] = required
        out["properties"] = props
        return out

    @classmethod
    def problems(cls, values: dict[str, Any], path: tuple = ()) -> list[str]:
        """Every problem of a config block, each prefixed with its dotted path."""
        values = {k: v for k, v in (values or {}).items() if k not in cls.EXTRA_KEYS}
        validator = jsonschema.Draft202012Validator(cls.json_schema())
        errors = sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.path)))
        if errors:
            return [describe_error(e, path) for e in errors]
        obj = cls(**{**cls.defaults(), **values})
        where = ".".join(map(str, path))
        return [f"{where}.{key}: {msg}" if where else f"{key}: {msg}" for key, msg in obj.check()]

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, path: tuple | str = ()):
        """The options of a config block (defaults filled in), or :class:`OptionError`."""
        if isinstance(path, str):
            path = tuple(path.split(".")) if path else ()
        problems = cls.problems(values or {}, path)
        if problems:
            raise OptionError(problems)
        values = {k: v for k, v in (values or {}).items() if k not in cls.EXTRA_KEYS}
        return cls(**{**cls.defaults(), **copy.deepcopy(values)})


@functools.cache
def _choices(cls: type) -> dict[str, list]:
    hints = get_type_hints(cls)
    out = {}
    for f in cls.option_fields():
        s = type_schema(hints[f.name])
        if "enum" in s:
            out[f.name] = s["enum"]
    return out


def _cell(value: Any) -> str:
    """A value as it is written in config.yaml."""
    return "`" + (value if isinstance(value, str) else json.dumps(value)) + "`"


def markdown_table(cls: type[Options]) -> str:
    """The options of one class as a Markdown table: option, type or allowed values, default,
    description."""
    hints = get_type_hints(cls)
    defaults = cls.defaults()
    rows = ["| option | type / allowed values | default | description |", "|---|---|---|---|"]
    for f in cls.option_fields():
        s = type_schema(hints[f.name])
        kind = (
            ", ".join(_cell(v) for v in s["enum"]) if "enum" in s
            else " or ".join(s["type"]) if isinstance(s.get("type"), list)
            else s.get("type", "any")
        )
        default = _cell(defaults[f.name]) if f.name in defaults else "required"
        desc = f.metadata["description"].replace("|", "\\|")
        rows.append(f"| `{f.name}` | {kind} | {default} | {desc} |")
    return "\n".join(rows)
