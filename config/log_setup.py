"""Logging: one line per record on stderr, level from settings.

Every request writes an access-log line, so what the line does not show is not gathered for it: the
caller's file and line (a walk up the stack), the thread, the multiprocessing process name. The process
id is read once per process instead of by a system call per record, and the date and time to the second
formatted once per second."""

from __future__ import annotations

import logging
import os
import time

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


class _Pid:
    value = os.getpid()

    @classmethod
    def update(cls) -> None:
        cls.value = os.getpid()


os.register_at_fork(after_in_child=_Pid.update)  # gunicorn's workers are forked after logging is set up
_new_record = logging.getLogRecordFactory()


def _record(*args, **kwargs) -> logging.LogRecord:
    record = _new_record(*args, **kwargs)
    record.process = _Pid.value
    return record


class LineFormatter(logging.Formatter):
    """`logging.Formatter` writing the same lines, its `strftime` of the time made once per second."""

    _second: int | None = None
    _second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return self.default_msec_format % (self._second_text, record.msecs)


def configure_logging(level: str = "info") -> None:
    logging._srcfile = None  # no caller lookup (the logging HOWTO's "Optimization")
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.logProcesses = False  # `_record` sets the id
    logging.setLogRecordFactory(_record)
    handler = logging.StreamHandler()
    handler.setFormatter(LineFormatter(FORMAT))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler], force=True)
    # peewee logs every SQL statement at DEBUG, with parameters (which may hold secrets).
    logging.getLogger("peewee").setLevel(logging.INFO)
