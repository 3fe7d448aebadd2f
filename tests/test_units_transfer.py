"""The record of what a remote holds (transfer/engine.py's Known) under a push's threads."""
from __future__ import annotations

import threading
from pathlib import Path

from gitmodel.transfer.engine import Known


def test_known_takes_facts_from_many_threads_at_once(tmp_path: Path) -> None:
    """An LFS push records each upload from its transfer thread on one connection: two
    transactions begun at once failed the push ("cannot start a transaction within a
    transaction", seen in the bench about one run in three)."""
    known = Known(tmp_path, "https://example.invalid/models")
    start, errors = threading.Barrier(8), list[BaseException]()

    def record(worker: int) -> None:
        start.wait()
        try:
            for i in range(300):
                known.add([f"{worker:02x}{i:062x}"])
            known.forget([f"{worker:02x}{0:062x}"])
        except BaseException as error:  # collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=record, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    wanted = {f"{w:02x}{i:062x}" for w in range(8) for i in range(1, 300)}
    assert known.having(wanted | {f"{w:02x}{0:062x}" for w in range(8)}) == wanted
    assert known.forgets() == 8
