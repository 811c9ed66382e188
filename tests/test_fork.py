"""A process forked while another of its threads is inside a threaded call.

The child gets a copy of memory as it was at the fork: the helper pool's
lock may be held by a thread that does not exist in the child, and its
helpers are gone. The child's calls must still finish (on the calling thread
alone) and give the same bits.
"""

from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time

import fastloss
import numpy as np
import pytest
from reference import api

# How long a child may take for one call of a few milliseconds before it
# counts as hung: generous, for a loaded machine.
CHILD_TIMEOUT = 20.0


def fork_and_call(x: np.ndarray, t: np.ndarray) -> tuple[bytes, bool]:
    """Forks; the child computes ``mse(x, t)`` and sends its bits back. Returns
    what the child sent and whether it had to be killed."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: nothing but the call, then out
        try:
            os.close(read)
            os.write(write, struct.pack("<d", float(fastloss.mse(x, t))))
        finally:
            os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], CHILD_TIMEOUT)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        got = os.read(read, 8) if ready else b""
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    return got, not ready


# One fresh process: a thread makes the process's first call on 64 threads,
# which starts 63 helpers (some milliseconds, the pool's lock held), and the
# main thread forks 1 ms later. Prints whether the child finished, and with
# the bits of a call on one thread.
FIRST_CALL = r"""
import os, select, signal, struct, threading, time
import numpy as np
import fastloss

x, t = np.linspace(-3.0, 3.0, 1 << 20), np.zeros(1 << 20)
fastloss.set_num_threads(1)  # no helpers yet
want = struct.pack("<d", float(fastloss.mse(x, t)))
fastloss.set_num_threads(64)
worker = threading.Thread(target=fastloss.mse, args=(x, t))
worker.start()
time.sleep(0.001)
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    try:
        os.write(write, struct.pack("<d", float(fastloss.mse(x, t))))
    finally:
        os._exit(0)
os.close(write)
ready, _, _ = select.select([read], [], [], %r)
if not ready:
    os.kill(pid, signal.SIGKILL)
got = os.read(read, 8) if ready else b""
os.waitpid(pid, 0)
worker.join()
print("hung" if not ready else "same" if got == want else "different")
"""

fork_only = pytest.mark.skipif(
    not hasattr(os, "fork") or sys.platform == "darwin", reason="fork of a threaded process"
)


@fork_only
def test_fork_while_the_pool_starts() -> None:
    """The child of a fork made while another thread starts the helpers
    computes alone, although the pool's lock was held at the fork."""
    code = FIRST_CALL % CHILD_TIMEOUT
    outcomes = []
    for _ in range(8):
        proc = subprocess.run(
            [sys.executable, "-W", "ignore::DeprecationWarning", "-c", code],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        outcomes.append(proc.stdout.split()[-1])
    print(f"forks while the pool starts: {outcomes}")
    assert outcomes == ["same"] * len(outcomes), f"forked children: {outcomes}"


@fork_only
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("threads", [2, 16])
def test_forks_during_threaded_calls_never_hang(restore_threads: int, threads: int) -> None:
    """Two Python threads call ``mse`` on the pool without a pause while the
    main thread forks again and again: every child computes its own call and
    gets the parent's bits. A child that hangs is killed and counted."""
    forks, budget = 300, 60.0
    api("set_num_threads")(threads)
    # Large enough to be split between the threads, small enough that the
    # calls (and so the pool's lock) come thick and fast.
    x = np.linspace(-3.0, 3.0, 1 << 20)
    t = np.zeros(1 << 20)
    want = struct.pack("<d", float(fastloss.mse(x, t)))
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            fastloss.mse(x, t)

    workers = [threading.Thread(target=busy) for _ in range(2)]
    for w in workers:
        w.start()
    hangs, wrong, done = 0, 0, 0
    start = time.monotonic()
    try:
        while done < forks and time.monotonic() - start < budget:
            got, hung = fork_and_call(x, t)
            hangs += hung
            wrong += not hung and got != want
            done += 1
    finally:
        stop.set()
        for w in workers:
            w.join()
    seconds = time.monotonic() - start
    print(f"{threads} threads: {done} forks, {hangs} hangs, {wrong} wrong, {seconds:.1f} s")
    assert done >= 50, f"only {done} forks in {budget} s"
    assert hangs == 0, f"{hangs} of {done} forked children hung ({threads} threads)"
    assert wrong == 0, f"{wrong} of {done} forked children computed other bits"
