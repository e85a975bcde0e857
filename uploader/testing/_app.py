"""The fake Discord as a request -> response application, free of sockets and HTTP parsing.

The connection loop hands `DiscordApp.receive` each request's head. The answer is `Drop`
(close the connection now), a `Response` (read and ignore the body, then send it), or an
`Exchange`: feed the body to ``exchange.sink``, wait ``exchange.delay``, then ask
`DiscordApp.respond` for the answer and send it unless ``exchange.drop_after``. Time comes in
as ``trio.current_time()`` seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import attrs

from ._admission import Admission, RateLimits, admit
from ._cdn import KEEP_FILE_BYTES, is_cdn, serve_attachment
from ._control import control_reader
from ._faults import FaultSchedule
from ._forms import TOO_LARGE, FormReader, Problem
from ._inspection import inspect, is_inspection
from ._interactions import JsonReader, json_route_reader, user_post_reader
from ._ledger import Ledger
from ._limits import to_ns
from ._messages import answer_message
from ._records import Fault
from ._resources import answer_resource
from ._responses import (
    BANNED,
    Response,
    http_error,
    problem_response,
    server_error,
)
from ._routes import Route, match_route, redact
from ._world import World

log = logging.getLogger("uploader.testing")

_FORM_ROUTES = frozenset({"create_message", "execute_webhook", "edit_message"})


@attrs.frozen
class RequestHead:
    """A request as far as its head.

    Attributes:
        method: e.g. ``POST``.
        target: the request target (path and query).
        headers: the headers, names lower-cased (a repeated header keeps its last value).
    """

    method: str
    target: str
    headers: dict[str, str] = attrs.field(repr=False)


@attrs.frozen
class Drop:
    """Close the connection without answering."""


@attrs.frozen
class Exchange:
    """An admitted request whose body decides its answer.

        Attributes:
            route: the matched route.
            admission: what admission found (channel, webhook, bucket headers).
            query: the query parameters.
    from ._resources import answer_resource
            fault: the injected fault that hit it, if any (``slow``, ``drop_after_body`` or
                ``status_after_body``).
            reader: the form reader of a message route, else None (the body is ignored).
    """

    route: Route
    admission: Admission
    query: dict[str, str]
    fault: Fault | None
    reader: FormReader | JsonReader | None

    @property
    def sink(self) -> Callable[[bytes], None] | None:
        """Where the body's chunks go, or None to read and drop them."""
        return self.reader.feed if self.reader is not None else None

    @property
    def delay(self) -> float:
        """Seconds to wait after the body before answering (a ``slow`` fault)."""
        return self.fault.delay if self.fault is not None and self.fault.kind == "slow" else 0.0

    @property
    def drop_after(self) -> bool:
        """Whether to close the connection instead of sending the answer."""
        return self.fault is not None and self.fault.kind == "drop_after_body"


class DiscordApp:
    """Discord's behaviour over the fake's state: admission, then the route's answer.

    Args:
        world: guilds, channels, webhooks, messages.
        limits: the rate-limit buckets.
        faults: the injected faults.
        ledger: the counters and the ban.
        check_schema: check JSON payloads against Discord's OpenAPI request schemas.
    """

    def __init__(
        self,
        world: World,
        limits: RateLimits,
        faults: FaultSchedule,
        ledger: Ledger,
        *,
        check_schema: bool,
    ) -> None:
        self.world = world
        self.limits = limits
        self.faults = faults
        self.ledger = ledger
        self._check_schema = check_schema

    def receive(self, head: RequestHead, now: float) -> Drop | Response | Exchange:
        """Decide what to do with a request whose head has arrived.

        The inspection routes (``/_fake/...``) and the attachment URLs (``/cdn/...``,
        ``/media/...``) answer at once and are left out of the stats, as is a user's post
        (``POST /_fake/channels/{id}/messages``) and a control route (`control_reader`).
        """
        fake_only = user_post_reader(self.world, head.method, head.target) or control_reader(
            self.world, self.faults, head.method, head.target
        )
        if isinstance(fake_only, Response):
            return fake_only
        if fake_only is not None:
            return Exchange(Route("create_message"), Admission(None, None, ()), {}, None, fake_only)
        if is_cdn(head.target):
            return serve_attachment(self.world.attachments, head.method, head.target)
        if is_inspection(head.target):
            return inspect(self.world, self.ledger.snapshot(), head.method, head.target)
        self.ledger.count_request()
        target = urlsplit(head.target)
        log.debug("%s %s", head.method, redact(target.path))
        if self.ledger.banned:
            return BANNED
        route = match_route(head.method, target.path)
        if isinstance(route, int):
            return http_error(route)
        self.ledger.count_route(route.name)
        fault = self.faults.take(route.name)
        if fault is not None and fault.kind == "drop_before_body":
            return Drop()
        admission = admit(self.world, self.limits, route, head.headers, fault, to_ns(now))
        if isinstance(admission, Response):
            return admission
        reader: FormReader | JsonReader | None = json_route_reader(self.world, route)
        if route.name in _FORM_ROUTES:
            reader = self._form_reader(admission, head.headers)
        return Exchange(route, admission, dict(parse_qsl(target.query)), fault, reader)

    def _form_reader(self, admission: Admission, headers: dict[str, str]) -> FormReader:
        assert admission.channel is not None
        request_limit = self.world.request_limit_of(admission.channel.id)
        reader = FormReader(
            headers.get("content-type"),
            file_limit=self.world.file_limit_of(admission.channel.id),
            request_limit=request_limit,
            keep_bytes=KEEP_FILE_BYTES,
        )
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > request_limit:
            reader.refuse_as_too_large()
        return reader

    def respond(self, exchange: Exchange, now: float) -> Response:
        """The answer to an admitted request whose body has been read."""
        answer = self._answer(exchange, now)
        fault = exchange.fault
        if fault is not None and fault.kind == "status_after_body":
            return server_error(fault.status, forwarded=True)  # recorded, but the client hears 5xx
        return answer

    def _answer(self, exchange: Exchange, now: float) -> Response:
        route, admission, world = exchange.route, exchange.admission, self.world
        shown = admission.bucket_headers
        if isinstance(exchange.reader, JsonReader):
            return exchange.reader.respond(now)
        if exchange.reader is None:
            return answer_resource(world, route, admission, exchange.query)
        form = exchange.reader.finish()
        if isinstance(form, Problem):
            if form is TOO_LARGE:
                log.debug("413: body of a %s was over the limit", route.name)
            return problem_response(form, shown)
        return answer_message(
            world, route, admission, form, exchange.query, check_schema=self._check_schema, now=now
        )

    def count(self, response: Response) -> None:
        """Count an answer as it is sent."""
        self.ledger.count(response)
