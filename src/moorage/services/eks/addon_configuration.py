"""An add-on's configurationValues: parsed (JSON or YAML, as EKS takes them), validated against the
version's JSON schema (the `jsonschema` library, the dialect the schema's $schema names), and merged
over the version's defaults for rendering.

EKS reports schema failures in the words of the validator it runs (networknt's, a Java library):
"ConfigurationValue provided in request is not supported: Json schema validation failed with error:
[$.podAnnotations: is not defined in the schema and the schema does not allow additional properties]".
The messages below translate jsonschema's errors into that form, one per failure, in path order.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import yaml

from . import names

PREFIX = "ConfigurationValue provided in request is not supported: Json schema validation failed with error: "
JSON_TYPES = (("null", type(None)), ("boolean", bool), ("integer", int), ("number", float), ("string", str),
              ("array", list), ("object", dict))


def parse(text: str, cluster: str) -> Any:
    """The values a configurationValues string gives: JSON or YAML; '{}' and '' reset to defaults."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise names.invalid_parameter("ConfigurationValue is not in valid JSON or YAML format.", cluster) from None
    return value  # may be a non-object: the schema says what is wrong with it


def json_type(value: Any) -> str:
    for name, kind in JSON_TYPES:
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return name
    return type(value).__name__


def path_text(path) -> str:
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def describe(error: jsonschema.ValidationError) -> list[str]:
    where = path_text(error.absolute_path)
    validator, expected = error.validator, error.validator_value
    if validator == "additionalProperties":
        allowed = set((error.schema.get("properties") or {}))
        extra = [k for k in error.instance if k not in allowed] if isinstance(error.instance, dict) else []
        return [f"{path_text([*error.absolute_path, k])}: is not defined in the schema and the schema does not allow "
                "additional properties" for k in extra] or [f"{where}: {error.message}"]
    if validator == "type":
        wanted = expected if isinstance(expected, str) else ", ".join(expected)
        return [f"{where}: {json_type(error.instance)} found, {wanted} expected"]
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [f"{where}.{missing}: is missing but it is required"]
    if validator == "enum":
        return [f"{where}: does not have a value in the enumeration [{', '.join(str(v) for v in expected)}]"]
    if validator == "minimum":
        return [f"{where}: must have a minimum value of {expected}"]
    if validator == "maximum":
        return [f"{where}: must have a maximum value of {expected}"]
    if validator == "pattern":
        return [f"{where}: does not match the regex pattern {expected}"]
    return [f"{where}: {error.message}"]


def validate(values: Any, schema: dict, cluster: str) -> dict:
    """values checked against the schema; InvalidParameterException with EKS's message when they fail."""
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    errors = sorted(validator_class(schema).iter_errors(values), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        messages = [m for error in errors for m in describe(error)]
        raise names.invalid_parameter(PREFIX + "[" + ", ".join(messages) + "]", cluster)
    return values


def merged(defaults: dict, values: dict | None) -> dict:
    """values over defaults: objects merge key by key, anything else (lists too) replaces."""
    result = json.loads(json.dumps(defaults))
    for key, value in (values or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result
