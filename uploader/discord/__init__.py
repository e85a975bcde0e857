"""Talking to Discord: routes, rate limits, streamed multipart uploads, retries, errors."""
