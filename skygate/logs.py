"""Server logs a user cannot forge: one record, one line, however the record was made.

Messages can carry text a user sent (an ADQL error quoting a delimited identifier, a path, an
exception's message); a newline in it would start what looks like a new record (log forging,
CWE-117). ``OneLineFormatter`` writes the message with control characters escaped
(``dali.errors.escaped``) and indents every further line (a traceback), so each record starts
at column 0 and nothing else does. ``skygate serve`` and ``skygate worker`` log through it.
Tests: tests/skygate/test_logs.py.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG

from dali.errors import escaped

__all__ = ["FORMAT", "OneLineFormatter", "configure_logging", "uvicorn_log_config"]

FORMAT = "%(asctime)s %(processName)s %(name)s %(levelname)s %(message)s"
_CONTINUATION = "\n    "


class OneLineFormatter(logging.Formatter):
    """A formatter whose records start on a line of their own and nowhere else."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escaped(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", _CONTINUATION)


def configure_logging(level: int = logging.INFO) -> None:
    """Log the root logger's records to stderr through ``OneLineFormatter`` (worker processes)."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, plus a root handler with ``OneLineFormatter`` for the
    services' loggers (``tap.routes``, ``uws.runner``, ...), which uvicorn leaves unconfigured."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["skygate"] = {"()": f"{__name__}.OneLineFormatter", "fmt": FORMAT}
    config["handlers"]["skygate"] = {"formatter": "skygate", "class": "logging.StreamHandler",
                                     "stream": "ext://sys.stderr"}
    config["root"] = {"handlers": ["skygate"], "level": "INFO"}
    return config
