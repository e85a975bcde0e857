"""The bot: gateway events in, requests admitted and downloaded, media posted back; `run_bot`.

One `Bot` holds one upload pipeline (one HTTP client and rate limiter for every request), one
download client and one `RequestGate`. Each command becomes a task: answer at once (a slash
command is deferred), post the status message, wait for a slot, download each link into the
request's own folder, then let the pipeline deliver into the command's channel (or follow-up
webhook) while it keeps that same status message up to date, ending with the summary. Every
refusal is a reply that says why. On SIGINT/SIGTERM the bot stops reading the gateway, gives
running requests ``shutdown_grace`` seconds, then cancels them: downloads leave no ``.part``
file, the pipeline stops its encoders, and a cancelled request's folder is removed.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import trio

from .._errors import UploaderError
from .._models import FileStatus, UploadResult, printable
from .._pipeline import UploadPipeline, open_upload_pipeline
from .._results import fit_lines, shown_path
from .._settings import Settings
from ..discord import Channel
from ..gateway import Gateway, GatewayEvent, open_gateway
from ._addresses import Resolver, resolve_host
from ._answer import Answer, StatusFirst
from ._commands import (
    SLASH_COMMANDS,
    CommandError,
    Request,
    StatusCommand,
    UploadCommand,
    request_from_interaction,
    request_from_message,
)
from ._download import Downloaded, download, make_request_dir
from ._errors import BusyError, RequestRefusedError, WebPageError
from ._gate import RequestGate, requests_said
from ._settings import BotSettings
from ._ytdlp import fetch_page, ytdlp_available

logger = logging.getLogger("uploader.bot")

SHUTDOWN_GRACE = 10.0
"""Seconds running requests get to finish after SIGINT/SIGTERM before they are cancelled."""
MAX_SHOWN_URL = 100


class Bot:
    """A running bot; `run_bot` hands it out once the gateway session is up.

    Attributes:
        gate: the per-user limit and the global queue.
        user_id: the bot's user id (from READY).
        application_id: its application id (from READY), for the slash commands.
    """

    def __init__(
        self,
        *,
        token: str,
        api_base: str,
        pipeline: UploadPipeline,
        downloads: httpx.AsyncClient,
        settings: BotSettings,
        resolve: Resolver = resolve_host,
        shutdown_grace: float = SHUTDOWN_GRACE,
    ) -> None:
        self._token = token
        self._api_base = api_base
        self.pipeline = pipeline
        self._downloads = downloads
        self.settings = settings
        self._resolve = resolve
        self._grace = shutdown_grace
        self.gate = RequestGate(settings.max_requests_per_user, settings.max_concurrent_requests)
        self.user_id: str | None = None
        self.application_id: str | None = None
        self._stopping = trio.Event()
        self._ready = trio.Event()
        self._requests = trio.CancelScope()
        self.stopped = trio.Event()
        """Set once every request finished or was cancelled after `stop`."""

    def __repr__(self) -> str:
        return f"<Bot user_id={self.user_id!r} stopping={self._stopping.is_set()}>"

    def stop(self) -> None:
        """Stop taking requests; running ones get the shutdown grace, then are cancelled."""
        self._stopping.set()

    async def run(
        self,
        gateway: Gateway,
        *,
        handle_signals: bool = True,
        task_status: trio.TaskStatus[Bot] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve ``gateway``'s events until `stop` (or a signal), then shut down cleanly."""
        async with trio.open_nursery() as outer:
            if handle_signals:
                await outer.start(self._watch_signals)
            async with trio.open_nursery() as requests:
                self._requests = requests.cancel_scope
                async with trio.open_nursery() as intake:
                    intake.start_soon(self._read_events, gateway, requests)
                    await self._ready.wait()
                    task_status.started(self)
                    await self._stopping.wait()
                    intake.cancel_scope.cancel()
                requests.cancel_scope.deadline = trio.current_time() + self._grace
            outer.cancel_scope.cancel()
        self.stopped.set()

    async def _watch_signals(self, task_status: trio.TaskStatus[None]) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                if self._stopping.is_set():
                    logger.warning("bot: second signal: cancelling running requests")
                    self._requests.cancel()
                else:
                    logger.warning(
                        "bot: %s: finishing running requests (%.0f s at most)",
                        signal.Signals(signum).name,
                        self._grace,
                    )
                    self.stop()

    async def _read_events(self, gateway: Gateway, requests: trio.Nursery) -> None:
        async for event in gateway.events:
            request = self._request_of(event, requests)
            if request is not None:
                requests.start_soon(self.serve, request)

    def _request_of(self, event: GatewayEvent, requests: trio.Nursery) -> Request | None:
        data = event.data
        if event.name == "READY" and isinstance(data, dict):
            self.user_id = str(data.get("user", {}).get("id"))
            self.application_id = str(data.get("application", {}).get("id") or self.user_id)
            requests.start_soon(self._register_commands, self.application_id)
        elif event.name == "MESSAGE_CREATE" and isinstance(data, dict):
            return request_from_message(data, self.settings.command_prefix, self.user_id)
        elif event.name == "INTERACTION_CREATE" and isinstance(data, dict):
            return request_from_interaction(data)
        return None

    async def _register_commands(self, application_id: str) -> None:
        try:
            await self.pipeline.client.overwrite_commands(
                Channel(0, self._token), application_id, SLASH_COMMANDS
            )
        except UploaderError as exc:
            logger.warning("bot: slash commands not registered: %s", exc)
        finally:
            self._ready.set()  # started: READY read (user_id known), /upload registered

    async def serve(self, request: Request) -> None:
        """Carry out one request and answer it (errors are logged, never raised)."""
        answer = Answer.to(self.pipeline.client, request, self._token, self._api_base)
        command = request.command
        try:
            await answer.defer()
            if isinstance(command, CommandError):
                await answer.start(f"❌ {command.message}")
            elif isinstance(command, StatusCommand):
                await answer.start(self.gate.status(request.user_id).describe())
            else:
                await self._upload(request, command, answer)
        except UploaderError as exc:
            logger.warning("bot: request %s not answered: %s", request.message_id, exc)
        except Exception:  # one request's bug must not stop the bot
            logger.exception("bot: request %s failed", request.message_id)
            with contextlib.suppress(UploaderError):
                await answer.post("❌ Something went wrong with this request; it was logged.")

    async def _upload(self, request: Request, command: UploadCommand, answer: Answer) -> None:
        try:
            with self.gate.reserve(request.user_id) as slots:
                await self._upload_in_turn(request, command, answer, slots)
        except BusyError as exc:
            await answer.start(f"❌ {exc}")

    async def _upload_in_turn(
        self,
        request: Request,
        command: UploadCommand,
        answer: Answer,
        slots: trio.CapacityLimiter,
    ) -> None:
        now = self.gate.status(request.user_id)
        queued = not slots.available_tokens
        links = f"{len(command.urls)} link{'s' if len(command.urls) != 1 else ''}"
        waiting = f"⏳ Queued behind {requests_said(now.running + now.waiting - 1)}: {links}"
        status = await answer.start(waiting if queued else f"⬇️ Downloading {links}...")
        destination = StatusFirst(self.pipeline.destination(answer.target), status)
        try:
            async with slots:
                if queued:
                    await answer.edit(status, f"⬇️ Downloading {links}...")
                await self._deliver(request, command, answer, destination)
        except BaseException as exc:
            # the pipeline's status reporter says "stopped" once it has the message; before that
            # (queued, downloading) the message is ours to mark, or it would wait forever
            if _cancelled(exc) and not destination.taken_over:
                await _say_stopped(answer, status)
            raise

    async def _deliver(
        self, request: Request, command: UploadCommand, answer: Answer, destination: StatusFirst
    ) -> None:
        status = destination.status_id
        base = self.settings.download_dir
        folder = await make_request_dir(base, request.user_id, request.message_id)
        try:
            got, refusals = await self._download_all(command.urls, folder)
            if not got:
                await _remove(folder)
                await answer.edit(status, fit_lines(refusals))
                return
            if refusals:
                await answer.post(fit_lines(refusals))
            result = await self.pipeline.upload(folder, destination)
            summary = _request_summary(result, folder)
            # progress updates off: the summary, once; else only when it names skipped files
            if not destination.taken_over or summary != fit_lines(
                result.channel_summary.splitlines()
            ):
                await answer.edit(status, summary)
            logger.info("bot: request %s: %s", request.message_id, result.message.splitlines()[0])
        except BaseException as exc:
            if _cancelled(exc):  # shutting down: nothing of this request stays behind
                with trio.CancelScope(shield=True):
                    await _remove(folder)
            raise

    async def _download_all(
        self, urls: tuple[str, ...], folder: Path
    ) -> tuple[list[Downloaded], list[str]]:
        """Download each link within the request's budget; the files, and why others were not."""
        budget = self.settings.max_download_bytes
        got: list[Downloaded] = []
        refusals: list[str] = []
        for url in urls:
            try:
                items = await self._fetch(url, folder, budget)
            except RequestRefusedError as exc:
                shown = url if len(url) <= MAX_SHOWN_URL else url[: MAX_SHOWN_URL - 3] + "..."
                refusals.append(f"❌ <{shown}>: {exc}")
                continue
            budget -= sum(item.size for item in items)
            got.extend(items)
        return got, refusals

    async def _fetch(self, url: str, folder: Path, budget: int) -> list[Downloaded]:
        """A media link's file; a page's media through yt-dlp when the extra is installed."""
        private = self.settings.allow_private_urls
        try:
            return [
                await download(
                    self._downloads,
                    url,
                    folder,
                    max_bytes=budget,
                    allow_private=private,
                    resolve=self._resolve,
                )
            ]
        except WebPageError:
            if not ytdlp_available():
                raise
        return await fetch_page(
            url, folder, max_bytes=budget, allow_private=private, resolve=self._resolve
        )


def _request_summary(result: UploadResult, folder: Path) -> str:
    """The run's summary, naming every download that was not sent and why: each was asked for
    (a link that was not really media would otherwise vanish without a word)."""
    skipped = [
        f"⏭️ {shown_path(o.path, folder)}: {printable(o.reason)}"
        for o in result.outcomes
        if o.status is FileStatus.SKIPPED
    ]
    return fit_lines([*result.channel_summary.splitlines(), *skipped])


def _cancelled(exc: BaseException) -> bool:
    if isinstance(exc, trio.Cancelled | KeyboardInterrupt):
        return True
    return isinstance(exc, BaseExceptionGroup) and exc.subgroup(trio.Cancelled) is not None


async def _say_stopped(answer: Answer, status: str) -> None:
    text = "⏹️ Stopped: the bot shut down before this request was done"
    shield = trio.CancelScope(shield=True)
    with shield, trio.move_on_after(5.0), contextlib.suppress(UploaderError):  # never waits long
        await answer.edit(status, text)


async def _remove(folder: Path) -> None:
    await trio.to_thread.run_sync(shutil.rmtree, folder, True)


async def run_bot(
    token: str,
    *,
    settings: Settings | None = None,
    bot_settings: BotSettings | None = None,
    api_base: str | None = None,
    handle_signals: bool = True,
    shutdown_grace: float = SHUTDOWN_GRACE,
    resolve: Resolver = resolve_host,
    downloads: httpx.AsyncClient | None = None,
    task_status: trio.TaskStatus[Bot] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the bot until SIGINT/SIGTERM or `Bot.stop`: ``await nursery.start(run_bot, token)``.

    Args:
        token: the bot token (never logged or shown).
        settings: the pipeline's settings; `Settings.from_env()` by default.
        bot_settings: the ``BOT_*`` settings; `BotSettings.from_env()` by default.
        api_base: Discord's API base (e.g. a fake's); ``settings.discord_api_base`` by default.
        handle_signals: stop on SIGINT/SIGTERM (a second one cancels running requests at once).
        shutdown_grace: seconds running requests get to finish when stopping.
        resolve: how link hosts are resolved (tests pin addresses with it).
        downloads: the HTTP client links are fetched with (kept open); one by default.
        task_status: the nursery start protocol; ``started`` once the gateway is ready and the
            slash commands are registered (or their refusal logged).

    Raises:
        GatewayClosedError: Discord refused the token or the intents.
        GatewayUnavailableError: no gateway session could be started.
    """
    settings = Settings.from_env() if settings is None else settings
    bot_settings = BotSettings.from_env() if bot_settings is None else bot_settings
    base = (api_base or settings.discord_api_base).rstrip("/")
    async with AsyncExitStack() as stack:
        if downloads is None:
            downloads = await stack.enter_async_context(
                httpx.AsyncClient(
                    timeout=httpx.Timeout(60.0, connect=15.0),
                    follow_redirects=False,
                    trust_env=False,
                )
            )
        pipeline = await stack.enter_async_context(open_upload_pipeline(settings, api_base=base))
        gateway = await stack.enter_async_context(open_gateway(token, api_base=base))
        bot = Bot(
            token=token,
            api_base=base,
            pipeline=pipeline,
            downloads=downloads,
            settings=bot_settings,
            resolve=resolve,
            shutdown_grace=shutdown_grace,
        )
        await bot.run(gateway, handle_signals=handle_signals, task_status=task_status)
