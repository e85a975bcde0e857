"""The run state the actors share: the limit only goes down, a stop cancels compression."""

from __future__ import annotations

import trio

from uploader import Settings
from uploader._run import Run


async def test_a_learnt_limit_only_ever_lowers_the_file_limit_and_the_target() -> None:
    run = Run(Settings(upload_file_limit_mb=10))
    assert not run.learn_limit(20 * 1024 * 1024)
    assert run.learn_limit(150_000)
    assert run.file_limit_bytes == run.compression_target_bytes == 150_000
    assert not run.learn_limit(150_000)


async def test_stop_keeps_the_first_reason_and_cancels_compression() -> None:
    run = Run(Settings())
    with run.compression:
        run.stop("upload stopped: unknown channel")
        run.stop("upload stopped: something later")
        await trio.sleep_forever()  # cancelled by the stop
    assert run.compression.cancelled_caught
    assert run.stopped == "upload stopped: unknown channel"


async def test_messages_are_numbered_from_one() -> None:
    run = Run(Settings())
    assert [run.count_message(), run.count_message()] == [1, 2]
    assert run.messages_sent == 2
