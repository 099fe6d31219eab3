"""Run test code in threads so that a thread that crashes or hangs fails the test instead of vanishing with it."""
from __future__ import annotations

import threading


def run_together(target, *arguments: tuple, barrier: threading.Barrier | None = None, timeout: float = 30) -> None:
    """Call `target(*args)` in one thread per tuple of `arguments`, wait for all of them and re-raise, in the
    test's own thread, whatever any of them raised. Pass the `barrier` the threads meet at: a thread that fails
    before it breaks the barrier, so the others stop waiting for it."""
    errors: list[BaseException] = []

    def guarded(*args):
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, where pytest sees it
            errors.append(exc)
            if barrier is not None:
                barrier.abort()

    threads = [threading.Thread(target=guarded, args=args, daemon=True) for args in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    # A broken barrier is only the echo of another thread's failure; report the failure itself.
    failures = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)] or errors
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise BaseExceptionGroup(f"{len(failures)} of {len(threads)} threads failed", failures)
    running = sum(thread.is_alive() for thread in threads)
    assert not running, f"{running} of {len(threads)} threads still running after {timeout} s"
