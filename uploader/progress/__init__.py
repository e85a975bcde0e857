"""Progress reporters: terminal bars, a Discord status message, plain lines.

A reporter takes every `ProgressEvent` through ``handle`` (which must not block) and may do
slow work in ``run`` (e.g. throttled message edits), returning soon after `UploadDone`.
"""

from __future__ import annotations

from ._lines import LineReporter as LineReporter
from ._lines import describe as describe
from ._reporter import ProgressArg as ProgressArg
from ._reporter import ProgressEvent as ProgressEvent
from ._reporter import Reporter as Reporter
from ._reporter import as_reporters as as_reporters
from ._status import DiscordStatusReporter as DiscordStatusReporter
from ._terminal import TerminalReporter as TerminalReporter
