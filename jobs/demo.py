"""A tiny job that proves the wiring: counts to `n`, reporting progress as it goes."""
from jobs import job, progress
from portal.services import jobs as job_runs


@job("demo.count_to")
def count_to(run, n: int) -> int:
    if n < 1:
        raise ValueError("n must be at least 1")
    total = 0
    for i in range(1, n + 1):
        total += i
        progress(run, i * 100 // n, "counting", {"done": i, "n": n})
    job_runs.finish(run, result={"sum": total}, code="counted", params={"n": n})
    return total
