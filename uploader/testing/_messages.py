"""Creating and editing messages: payload checks, attachments, nonces, threads, the record.

Each function takes an admitted request's parsed form and answers it, recording (or
updating) the message in the world's log when the request is valid.
"""

from __future__ import annotations

from typing import Any

import attrs

from .._limits import MAX_ATTACHMENTS, MAX_MESSAGE_CHARS, NONCE_WINDOW_SECONDS
from ._admission import Admission
from ._cdn import content_type_of
from ._forms import TOO_MANY_ATTACHMENTS, Form, Problem, UploadedFile, invalid_form
from ._limits import to_ns
from ._records import RecordedAttachment, RecordedMessage
from ._responses import Response, json_response, no_content, problem_response
from ._routes import SNOWFLAKE, Route
from ._schemas import (
    MESSAGE_CREATE,
    MESSAGE_EDIT,
    WEBHOOK_EXECUTE,
    WEBHOOK_MESSAGE_EDIT,
    field_error,
    validate,
)
from ._shapes import message_json
from ._world import World

_EXTRAS = ("embeds", "sticker_ids", "components", "poll")
_CREATE_FLAGS = 4 | 4096 | 32768
"""The flags a create keeps: SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2."""
EMPTY_MESSAGE = Problem(400, 50006, "Cannot send an empty message")
UNKNOWN_MESSAGE = Problem(404, 10008, "Unknown Message")
UNKNOWN_CHANNEL = Problem(404, 10003, "Unknown Channel")


class Refusal(Exception):
    """A request refused with a `Problem` (caught by the route's answer)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def refuse(field: str, code: str, message: str) -> Refusal:
    """A 400/50035 refusal naming one field."""
    return Refusal(invalid_form(field_error(field, code, message)))


def answer_message(
    world: World,
    route: Route,
    admission: Admission,
    form: Form,
    query: dict[str, str],
    *,
    check_schema: bool,
    now: float,
) -> Response:
    """Answer create-message, execute-webhook or edit-message from the request's form.

    A create answers the new message (a webhook without ``wait``: 204); a bot's
    ``enforce_nonce`` within `NONCE_WINDOW_SECONDS` answers the earlier message instead. An
    edit of the author's own message answers the edited message.
    """
    try:
        if route.name == "edit_message":
            return _edit(world, route, admission, form, query, check_schema, now)
        return _create(world, admission, form, query, check_schema, now)
    except Refusal as refusal:
        return problem_response(refusal.problem, admission.bucket_headers)


def _create(
    world: World,
    admission: Admission,
    form: Form,
    query: dict[str, str],
    check_schema: bool,
    now: float,
) -> Response:
    payload, webhook, channel = form.payload, admission.webhook, admission.channel
    assert channel is not None
    _check_payload(MESSAGE_CREATE if webhook is None else WEBHOOK_EXECUTE, payload, check_schema)
    content: str = payload.get("content") or ""
    now_ns = to_ns(now)
    attachments = _attachments(world, payload.get("attachments"), form.files, (), now_ns)
    if _is_empty(payload, content, attachments):
        raise Refusal(EMPTY_MESSAGE)
    thread_id: int | None = None
    nonce = payload.get("nonce")
    if webhook is None:
        if nonce is not None and payload.get("enforce_nonce"):
            earlier = _earlier_by_nonce(world, str(nonce), now_ns)
            if earlier is not None:
                return json_response(200, message_json(world, earlier), admission.bucket_headers)
    else:
        nonce = None  # execute-webhook has no nonce
        thread_id = thread_of(world, query, channel.id)
    reply_to = _reply_to(world, payload.get("message_reference"), thread_id or channel.id)
    message = RecordedMessage(
        id=str(world.clock.snowflake(now_ns)),
        channel_id=channel.id,
        webhook_id=str(webhook.id) if webhook is not None else None,
        content=content,
        nonce=str(nonce) if nonce is not None else None,
        attachments=attachments,
        thread_id=thread_id,
        created_at=now,
        embeds=_embeds(payload.get("embeds")),
        reply_to=reply_to,
        flags=_int_or_zero(payload.get("flags")) & _CREATE_FLAGS,
        tts=payload.get("tts") is True,
        username=_text_or_none(payload.get("username")) if webhook else None,
        avatar_url=_text_or_none(payload.get("avatar_url")) if webhook else None,
    )
    world.log.record(message)
    if nonce is not None and isinstance(nonce, int | str):
        world.log.remember_nonce(world.bot_user_id, message.id, nonce, now_ns)
    if webhook is not None and query.get("wait", "").lower() not in ("true", "1"):
        return no_content(admission.bucket_headers)
    return json_response(200, message_json(world, message), admission.bucket_headers)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_zero(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _earlier_by_nonce(world: World, nonce: str, now_ns: int) -> RecordedMessage | None:
    earlier = world.log.by_nonce(world.bot_user_id, nonce)
    if earlier is None or now_ns - earlier[1] >= to_ns(NONCE_WINDOW_SECONDS):
        return None
    return earlier[0]


def thread_of(world: World, query: dict[str, str], channel_id: int) -> int | None:
    """The ``thread_id`` of a webhook request: None, or a thread of the webhook's channel.

    Raises:
        Refusal: not a snowflake (400/50035), or no such thread there (404/10003).
    """
    raw = query.get("thread_id")
    if raw is None:
        return None
    if SNOWFLAKE.match(raw) is None:
        raise refuse("thread_id", "NUMBER_TYPE_COERCE", "Not a snowflake")
    thread = world.channels.get(int(raw))
    if thread is None or thread.parent_id != channel_id:
        raise Refusal(UNKNOWN_CHANNEL)
    return thread.id


def find_message(
    world: World, route: Route, admission: Admission, query: dict[str, str]
) -> RecordedMessage:
    """The live message a message route names, as its caller may see it.

    A bot route finds it in the path's channel (or thread); a webhook route finds only the
    webhook's own messages, and one in a thread only with that ``thread_id``.

    Raises:
        Refusal: 404/10008, or the ``thread_id``'s refusal.
    """
    message_id = route.message_id or ""
    if message_id == "@original" and route.webhook_token is not None:
        interaction = world.interactions.get(route.webhook_token)
        message_id = (interaction.original_id if interaction else None) or ""
    message = world.log.live(message_id)
    if message is None:
        raise Refusal(UNKNOWN_MESSAGE)
    webhook = admission.webhook
    if webhook is not None and route.webhook_token is not None:
        thread = thread_of(world, query, webhook.channel_id)
        if message.webhook_id != str(webhook.id) or message.thread_id != thread:
            raise Refusal(UNKNOWN_MESSAGE)
    elif shown_in(message) != route.channel_id:
        raise Refusal(UNKNOWN_MESSAGE)
    return message


def shown_in(message: RecordedMessage) -> int:
    """The channel or thread a message shows in."""
    return message.thread_id if message.thread_id is not None else message.channel_id


def _reply_to(world: World, reference: Any, channel_id: int) -> str | None:
    """The id of the message a create replies to, if its ``message_reference`` names one."""
    if not isinstance(reference, dict) or reference.get("message_id") is None:
        return None
    target = world.log.live(str(reference["message_id"]))
    if target is not None and shown_in(target) == channel_id:
        return target.id
    if reference.get("fail_if_not_exists") is False:
        return None
    raise refuse("message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message")


def _embeds(raw: Any) -> tuple[dict[str, Any], ...]:
    """The embeds as Discord stores them: nulls dropped, ``type`` rich, fields not inline."""
    if not isinstance(raw, list):
        return ()
    out = []
    for embed in raw:
        if not isinstance(embed, dict):
            continue
        kept = _without_nulls(embed)
        kept.setdefault("type", "rich")
        if isinstance(kept.get("fields"), list):
            kept["fields"] = [{"inline": False, **f} for f in kept["fields"] if isinstance(f, dict)]
        out.append(kept)
    return tuple(out)


def _without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _without_nulls(v) if isinstance(v, dict) else v
        for k, v in value.items()
        if v is not None
    }


def _edit(
    world: World,
    route: Route,
    admission: Admission,
    form: Form,
    query: dict[str, str],
    check_schema: bool,
    now: float,
) -> Response:
    message = find_message(world, route, admission, query)
    webhook = admission.webhook
    if webhook is None and message.webhook_id is not None:
        raise Refusal(Problem(403, 50005, "Cannot edit a message authored by another user"))
    payload = form.payload
    _check_payload(MESSAGE_EDIT if webhook is None else WEBHOOK_MESSAGE_EDIT, payload, check_schema)
    content = message.content
    if "content" in payload:
        content = payload.get("content") or ""
    now_ns = to_ns(now)
    attachments = _attachments(
        world, payload.get("attachments"), form.files, message.attachments, now_ns
    )
    if _is_empty(payload, content, attachments):
        raise Refusal(EMPTY_MESSAGE)
    embeds = _embeds(payload.get("embeds")) if "embeds" in payload else message.embeds
    edited = attrs.evolve(
        message, content=content, attachments=attachments, embeds=embeds, edits=message.edits + 1
    )
    world.log.replace(edited, now_ns)
    return json_response(200, message_json(world, edited), admission.bucket_headers)


def _check_payload(schema: str, payload: dict[str, Any], check_schema: bool) -> None:
    if check_schema:
        errors = validate(schema, payload)
        if errors is not None:
            raise Refusal(invalid_form(errors))
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        raise refuse("content", "BASE_TYPE_STRING", "Not a string")
    if isinstance(content, str) and len(content) > MAX_MESSAGE_CHARS:
        message = f"Must be {MAX_MESSAGE_CHARS} or fewer in length."
        raise refuse("content", "BASE_TYPE_MAX_LENGTH", message)
    entries = payload.get("attachments")
    if entries is not None and not isinstance(entries, list):
        raise refuse("attachments", "BASE_TYPE_LIST", "Not a list")


def _is_empty(payload: dict[str, Any], content: str, attachments: tuple[Any, ...]) -> bool:
    return not content.strip() and not attachments and not any(payload.get(k) for k in _EXTRAS)


def _attachments(
    world: World,
    entries: list[Any] | None,
    files: tuple[UploadedFile, ...],
    existing: tuple[RecordedAttachment, ...],
    now_ns: int,
) -> tuple[RecordedAttachment, ...]:
    """The message's attachments: ``entries`` name new files by index or keep existing ones.

    Files no entry names are attached after them, with their part's filename; no entries at
    all keeps the existing attachments.
    """
    by_index = {f.index: f for f in files}
    used: set[int] = set()
    out: list[RecordedAttachment] = []

    def new(upload: UploadedFile, entry: dict[str, Any]) -> RecordedAttachment:
        used.add(upload.index)
        filename = str(entry.get("filename") or upload.filename or "unknown")
        attachment_id = str(world.clock.snowflake(now_ns))
        world.attachments.keep(attachment_id, filename, upload.data)
        return RecordedAttachment(
            id=attachment_id,
            filename=filename,
            size=upload.size,
            sha256=upload.sha256,
            content_type=content_type_of(filename),
            description=entry.get("description"),
        )

    if entries is None:
        out.extend(existing)
    else:
        kept = {a.id: a for a in existing}
        for i, entry in enumerate(entries):
            raw = entry.get("id") if isinstance(entry, dict) else None
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise refuse(f"attachments.{i}.id", "BASE_TYPE_REQUIRED", "Required")
            assert isinstance(entry, dict)
            index = int(raw) if str(raw).isdigit() else -1
            if index in by_index and index not in used:
                out.append(new(by_index[index], entry))
            elif str(raw) in kept:
                out.append(kept[str(raw)])
            else:
                message = f"Unknown attachment {str(raw)[:20]!r}: no files[n] part matches"
                raise refuse(f"attachments.{i}.id", "ATTACHMENT_NOT_FOUND", message)
    out.extend(new(f, {}) for f in files if f.index not in used)
    if len(out) > MAX_ATTACHMENTS:
        raise Refusal(TOO_MANY_ATTACHMENTS)
    return tuple(out)
