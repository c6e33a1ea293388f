"""The log line every process writes (an access-log line per request among them): date, time to the
millisecond, level, the id of the process that wrote it — a forked worker's own — logger and message."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

from config.log_setup import FORMAT, LineFormatter

_WRITE_IN_PARENT_AND_FORKED_CHILD = """
import logging, os, sys
from config.log_setup import configure_logging
configure_logging("info")
log = logging.getLogger("bazaar.access")
log.info("GET %s %d rid=%s", "/health", 200, "parent")
log.debug("not at info")
child = os.fork()
if child == 0:
    log.info("GET %s %d rid=%s", "/health", 200, "child")
    sys.stderr.flush()
    os._exit(0)
os.waitpid(child, 0)
print(os.getpid(), child)
"""
_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[(\d+)\] bazaar\.access: GET /health 200 rid=(\w+)"
)


def test_each_process_writes_its_own_id_in_the_standard_line():
    done = subprocess.run(
        [sys.executable, "-c", _WRITE_IN_PARENT_AND_FORKED_CHILD], capture_output=True, text=True, check=True
    )
    parent, child = done.stdout.split()
    lines = done.stderr.splitlines()
    assert [_LINE.fullmatch(line).groups() for line in lines] == [
        (parent, "parent"),
        (child, "child"),
    ]


def test_the_date_and_time_are_the_standard_formatters_across_seconds():
    ours, standard = LineFormatter(FORMAT), logging.Formatter(FORMAT)
    record = logging.makeLogRecord({"name": "bazaar.access", "levelname": "INFO", "msg": "GET /health 200"})
    for created in (1_790_000_000.25, 1_790_000_000.999, 1_790_000_001.0, 1_790_000_001.5, 1_790_003_601.125):
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        assert ours.format(record) == standard.format(record)
