"""Log redaction: httpx logs every request's URL, and a webhook URL holds its token."""

from __future__ import annotations

import logging

from ._errors import redact


class _HttpxUrlFilter(logging.Filter):
    """Scrub webhook tokens from httpx's own log lines (it logs every request's URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact(str(record.msg))
        return True


_URL_FILTER = _HttpxUrlFilter()


def install_log_redaction() -> None:
    """Make the ``httpx`` and ``httpcore`` loggers drop webhook tokens (idempotent)."""
    for name in ("httpx", "httpcore"):
        log = logging.getLogger(name)
        if _URL_FILTER not in log.filters:
            log.addFilter(_URL_FILTER)
