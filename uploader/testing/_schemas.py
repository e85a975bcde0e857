"""Validation of request JSON against Discord's OpenAPI schemas, with Discord-shaped errors.

The schemas come from ``discord-schemas.json`` beside this module: an extract of Discord's
OpenAPI description (MIT licence inside the file).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

SCHEMA_FILE = "discord-schemas.json"

MESSAGE_CREATE = "MessageCreateRequest"
WEBHOOK_EXECUTE = "IncomingWebhookRequestPartial"
MESSAGE_EDIT = "MessageEditRequestPartial"
WEBHOOK_MESSAGE_EDIT = "IncomingWebhookUpdateRequestPartial"
MESSAGE_RESPONSE = "MessageResponse"

_INTEGER_SNOWFLAKE = {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}
_CODE_BY_KEYWORD = {
    "maxLength": "BASE_TYPE_MAX_LENGTH",
    "minLength": "BASE_TYPE_MIN_LENGTH",
    "maxItems": "BASE_TYPE_MAX_LENGTH",
    "minItems": "BASE_TYPE_MIN_LENGTH",
    "required": "BASE_TYPE_REQUIRED",
    "maximum": "NUMBER_TYPE_MAX",
    "minimum": "NUMBER_TYPE_MIN",
}


@functools.cache
def schema_document() -> dict[str, Any]:
    """The shipped schema document (``{"components": {"schemas": {...}}, ...}``)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


@functools.cache
def _validator(schema_name: str) -> Any:
    try:
        import jsonschema  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the fake Discord validates payloads with jsonschema: pip install 'uploader[testing]'"
            " (or pass validate=False)"
        ) from exc
    schemas = dict(schema_document()["components"]["schemas"])
    # The spec types snowflakes as strings; Discord takes JSON integers wherever it takes one.
    schemas["SnowflakeType"] = {"anyOf": [schemas["SnowflakeType"], _INTEGER_SNOWFLAKE]}
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; "$ref" beside "components" resolves locally.
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": {"schemas": schemas}}
    return jsonschema.Draft202012Validator(root)


def validate(schema_name: str, payload: Any) -> dict[str, Any] | None:
    """Check a request's JSON against one of the shipped schemas.

    Integers are accepted wherever the spec wants a snowflake string (attachment placeholder
    ids, ``message_reference.message_id``, ``sticker_ids``, ``allowed_mentions.users``...), as
    Discord accepts them and its libraries send them.

    Args:
        schema_name: e.g. ``MessageCreateRequest``.
        payload: the decoded JSON.

    Returns:
        None when valid; else a Discord ``errors`` object, e.g.
        ``{"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "..."}]}}``.
    """
    errors = list(_validator(schema_name).iter_errors(payload))
    if not errors:
        return None
    tree: dict[str, Any] = {}
    for error in errors:
        node = tree
        path = [str(part) for part in error.absolute_path]
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [p for p in error.validator_value if p not in error.instance]
            path += missing[:1]
        for part in path:
            node = node.setdefault(part, {})
        code = _CODE_BY_KEYWORD.get(str(error.validator), "BASE_TYPE_INVALID")
        # Discord's inner error codes are strings, though the spec's Error schema says integer.
        node.setdefault("_errors", []).append({"code": code, "message": error.message[:200]})
    return tree


def field_error(field: str, code: str, message: str) -> dict[str, Any]:
    """A one-field Discord ``errors`` object (``field`` may be dotted: ``attachments.0.id``)."""
    tree: dict[str, Any] = {}
    node = tree
    for part in field.split("."):
        node = node.setdefault(part, {})
    node["_errors"] = [{"code": code, "message": message}]
    return tree
