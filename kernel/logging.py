"""JSON log lines, and a last line of defence that scrubs secrets from anything logged."""

import logging
import re

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

# API keys have a recognisable prefix; bearer tokens and password-like key=value pairs are masked too.
_SECRET_PATTERNS = [
    (re.compile(r"aip_[A-Za-z0-9]{6,}_[A-Za-z0-9_-]{10,}"), "aip_[REDACTED]"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[REDACTED]"),
    (re.compile(r"(?i)((?:password|passwd|secret|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"), r"\1[REDACTED]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(_BaseJsonFormatter):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(tenant)s %(user)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # python-json-logger's keyword arguments, passed through as given

    def format(self, record: logging.LogRecord) -> str:
        for attr in ("request_id", "tenant", "user"):
            if not hasattr(record, attr):
                setattr(record, attr, "-")
        return redact(super().format(record))
