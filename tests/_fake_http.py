"""What the loopback Discord's HTTP tests share: bot headers and Discord's response schemas."""

from __future__ import annotations

import jsonschema

from uploader.testing import FakeDiscord
from uploader.testing._schemas import schema_document


def bot(fake: FakeDiscord) -> dict[str, str]:
    """The headers of a request with the fake's bot token."""
    return {"Authorization": f"Bot {fake.bot_token}"}


def assert_matches_schema(name: str, instance: object) -> None:
    """Check an answer against one of the shipped schemas of Discord's OpenAPI description."""
    root = {"$ref": f"#/components/schemas/{name}", "components": schema_document()["components"]}
    jsonschema.Draft202012Validator(root).validate(instance)
