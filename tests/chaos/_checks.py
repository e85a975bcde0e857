"""The chaos suite's judge: what a run broke, measured against what the FAKE recorded.

`violations` lists every broken promise of one `Observation`, one line each: a file delivered
but not in the channel (or with other bytes, or under other ids), failed or skipped but in
the channel, in it twice, uncertain on the bot path, a message nobody accounts for, a 429 the
client caused, ffmpeg or a temporary file left behind, the user's folder changed.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tests.chaos._scenario import Observation
from uploader import FileOutcome, FileStatus
from uploader.testing import RecordedAttachment, RecordedMessage

_INDEX = re.compile(r"^m(\d{3})")


def index_of(filename: str) -> int | None:
    """The generated file an attachment name belongs to (its ``m<index>`` prefix)."""
    found = _INDEX.match(filename)
    return int(found.group(1)) if found else None


def violations(obs: Observation) -> list[str]:
    """Every promise the run broke, judged against what the fake recorded."""
    problems = [*_outcome_problems(obs), *_message_problems(obs)]
    if obs.stats.client_caused_429s:
        problems.append(f"{obs.stats.client_caused_429s} 429s the client caused")
    if obs.processes_left:
        problems.append(f"ffmpeg still running: {obs.processes_left}")
    result = obs.result
    kept = {result.workdir} if result.workdir is not None and not result.success else set()
    if set(obs.temp_left) - kept:
        problems.append(f"temporary files left behind: {obs.temp_left}")
    problems.extend(_folder_problems(obs))
    return problems


def _outcomes(obs: Observation) -> dict[str, FileOutcome]:
    return {o.path.relative_to(obs.folder).as_posix(): o for o in obs.result.outcomes}


def _attachments(obs: Observation) -> dict[str, tuple[RecordedMessage, RecordedAttachment]]:
    return {a.id: (m, a) for m in obs.messages for a in m.attachments}


def _outcome_problems(obs: Observation) -> list[str]:
    """Each file's outcome is true to the fake's record, and no file is there twice."""
    problems: list[str] = []
    held = obs.held
    by_index = Counter(index_of(a.filename) for m in obs.messages for a in m.attachments)
    attachments = _attachments(obs)
    outcomes = _outcomes(obs)
    if set(outcomes) != set(obs.before):
        problems.append(f"outcomes name {sorted(outcomes)}, the folder held {sorted(obs.before)}")
    if None in by_index:
        problems.append("the fake holds an attachment named after no file of the folder")
    real = {f.name for f in obs.scenario.files if f.real}
    for name, outcome in outcomes.items():
        index = index_of(Path(name).name)
        copies = by_index[index]  # attachments named after it (its own name, or its stand-ins')
        status = outcome.status
        if copies > max(len(outcome.attachments), 1):
            problems.append(f"{name}: posted {copies} times")
        if status is FileStatus.DELIVERED:
            if copies < 1:
                problems.append(f"{name}: reported delivered, the fake does not hold it")
            elif name not in real and held[obs.before[name]] != 1:
                problems.append(f"{name}: reported delivered, the fake holds other bytes")
            found = [attachments.get(i) for i in outcome.attachments]
            sizes = [pair[1].size for pair in found if pair is not None]
            if not found or len(sizes) != len(found):
                problems.append(f"{name}: attachment ids {outcome.attachments} not the fake's")
            elif found[0] is not None and outcome.message_id != found[0][0].id:
                problems.append(f"{name}: message id {outcome.message_id} not the fake's")
            elif sum(sizes) != outcome.sent_bytes:
                problems.append(f"{name}: sent {outcome.sent_bytes} bytes, the fake got {sizes}")
        elif status is FileStatus.FAILED and copies:
            problems.append(f"{name}: reported failed, the fake holds it ({outcome.reason})")
        elif status is FileStatus.UNCERTAIN and obs.scenario.path == "bot":
            problems.append(f"{name}: uncertain on the bot path ({outcome.reason})")
        elif status is FileStatus.SKIPPED and copies:
            problems.append(f"{name}: skipped, yet the fake holds it")
    return problems


def _message_problems(obs: Observation) -> list[str]:
    """Every message with files is in the result, or holds only files named uncertain."""
    attachments = _attachments(obs)
    outcomes = _outcomes(obs)
    names = {index_of(Path(n).name): n for n in obs.before}
    accounted = {
        attachments[i][0].id
        for o in obs.result.delivered
        for i in o.attachments
        if i in attachments
    }
    problems = []
    for message in obs.messages:
        if not message.attachments or message.id in accounted:
            continue
        statuses = {
            outcomes[names[i]].status
            for i in (index_of(a.filename) for a in message.attachments)
            if i in names and names[i] in outcomes
        }
        if statuses - {FileStatus.UNCERTAIN}:
            problems.append(f"message {message.id} is in the channel but in no outcome")
    return problems


def _folder_problems(obs: Observation) -> list[str]:
    """The user's folder is unchanged, but for delivered files after full success if asked."""
    result = obs.result
    if obs.scenario.cleanup and result.success:
        delivered = {o.path.relative_to(obs.folder).as_posix() for o in result.delivered}
        expected = {n: s for n, s in obs.before.items() if n not in delivered}
    else:
        expected = obs.before
    if obs.after != expected:
        return [f"the user's folder changed: {sorted(set(obs.before) ^ set(obs.after))}"]
    return []
