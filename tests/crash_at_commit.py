"""`hub run`, killed by SIGKILL at an exact point of one consumer's Nth batch transaction (reliability test 1).

    HUB_TEST_CRASH_AT=<consumer>:<before_commit|after_commit>:<N> python -m tests.crash_at_commit run router stats

before_commit: every statement of the batch ran, COMMIT was not sent (the database rolls the batch back);
after_commit: COMMIT returned, nothing was acked and nothing handed to the relay yet. Only tests run this.
"""

from __future__ import annotations

import os
import signal
import sys

from sqlalchemy import event
from sqlalchemy.orm import Session

from hub.cli import main
from infra.batcher import SESSION_TAG


def arm(spec: str) -> None:
    consumer, point, nth = spec.split(":")
    if point not in ("before_commit", "after_commit"):
        raise SystemExit(f"unknown crash point {point!r}")
    seen = 0

    def crash(session: Session) -> None:
        nonlocal seen
        if session.info.get(SESSION_TAG) != consumer:
            return
        seen += 1
        if seen == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(Session, point, crash)


if __name__ == "__main__":
    arm(os.environ["HUB_TEST_CRASH_AT"])
    sys.exit(main(sys.argv[1:]))
