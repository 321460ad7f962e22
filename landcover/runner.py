"""Where the tasks run: threads here, a local Dask cluster or a remote scheduler.

Also the per-process setup every task does once (glibc malloc, torch threads):
the tasks run in this process or in Dask workers, so the setup travels with them.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from .errors import ServiceError

__all__ = ["Runner", "make_runner", "tune_malloc", "set_torch_threads", "GPU_IN_FLIGHT"]

_THREADS_SET: list[int] = []
_MALLOC_TUNED: list[bool] = []


def tune_malloc(arenas: int = 2) -> None:
    """glibc malloc settings for tile work, once per process.

    - At most ``arenas`` arenas (one per thread by default): the tile threads otherwise
      keep freed tile buffers in their own arenas; measured -12% peak RSS, same speed.
    - Buffers up to 32 MB (a layer's activations) from the heap, not a fresh mmap each:
      Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_`` set, which turns off
      glibc's adaptive mmap threshold, and every activation then cost page faults
      (measured: inference 2.8x slower in a distributed worker than in a thread).
    """
    if _MALLOC_TUNED or not sys.platform.startswith("linux"):
        return
    _MALLOC_TUNED.append(True)
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 * 2**20)  # M_TRIM_THRESHOLD: give memory back beyond 64 MB free
    except (OSError, AttributeError):  # not glibc
        pass


def set_torch_threads(n: int) -> None:
    """Set torch's intra-op threads once per process (it is process-global)."""
    if _THREADS_SET and _THREADS_SET[0] == n:
        return
    import torch

    torch.set_num_threads(n)
    _THREADS_SET[:] = [n]


class Runner:
    """Runs Dask tasks, yielding their results in order, a bounded number in flight.

    Up to ``in_flight`` tasks are submitted ahead of the one being consumed,
    which overlaps reading and inference with blending and writing while
    keeping memory bounded whatever the region's size.  Without a client, the
    tasks share one pool of ``workers`` threads (default: one per core), each
    running torch on ``torch_threads`` threads (default: cores / workers): on
    2 cores, two single-threaded inferences side by side are 1.14-1.35x faster
    than one on two threads (benchmarks/bench_recipes.py), and a core busy
    reading stalls only one of them.
    """

    def __init__(self, *, client=None, workers: int | None = None,
                 in_flight: int | None = None, torch_threads: int | None = None,
                 cluster=None) -> None:
        self.client = client
        #: a cluster this runner started (closed with it)
        self.cluster = cluster
        cores = os.cpu_count() or 1
        pool = workers or cores  # threads of the local pool (used without a client)
        self.workers: int | None = (workers or None) if client is not None else pool
        if in_flight is None:
            slots = sum(client.nthreads().values()) if client is not None else pool
            in_flight = 2 * max(1, slots)
        self.in_flight = max(1, in_flight)
        #: torch threads per task: cores shared by the tasks running at once
        self.torch_threads = torch_threads or (
            None if client is not None else max(1, cores // max(1, pool)))

    def run(self, tasks: Iterator) -> Iterator:
        """Compute Dask ``tasks`` (delayed objects); yield their results in order."""
        import dask

        pending: deque = deque()
        if self.client is not None:
            try:
                for task in tasks:
                    pending.append(self.client.compute(task))
                    if len(pending) >= self.in_flight:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for fut in pending:
                    fut.cancel()
            return
        # every task is a small graph run by dask's threaded scheduler on one shared
        # pool; its queue is first in, first out, so earlier tasks run first
        with ThreadPoolExecutor(self.workers) as workers, \
                ThreadPoolExecutor(self.in_flight) as submit:
            try:
                for task in tasks:
                    pending.append(submit.submit(dask.compute, task, scheduler="threads",
                                                 pool=workers))
                    if len(pending) >= self.in_flight:
                        yield pending.popleft().result()[0]
                while pending:
                    yield pending.popleft().result()[0]
            finally:
                for fut in pending:
                    fut.cancel()

    def close(self) -> None:
        """Close the client, and the cluster if this runner started it."""
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


#: tasks in flight in this process when they run on a GPU: each holds a strip of up to
#: TILES_PER_TASK_GPU tiles (~200 MB), and the device, not the cores, is the bottleneck
GPU_IN_FLIGHT = 4


def make_runner(*, scheduler: str | None = None, workers: int | None = None,
                device: str = "cpu") -> Runner:
    """Where the graph runs.

    ``scheduler`` (``tcp://host:port``): an existing Dask distributed cluster.
    ``workers``: a local distributed cluster of that many worker processes
    (one task at a time each, torch threads = cores / workers).  Neither: the
    threaded scheduler in this process (one task per core at a time, one torch
    thread each, later tiles read and classified while earlier ones are
    blended and written).  ``device`` ``cuda``: in this process, at most
    :data:`GPU_IN_FLIGHT` tasks in flight.
    """
    if scheduler:
        from distributed import Client

        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise ServiceError(
                f"cannot reach Dask scheduler {scheduler!r} ({exc}); start it "
                "(dask scheduler) or fix --scheduler / compute.scheduler"
            ) from None
        return Runner(client=client)
    if workers:
        from distributed import Client, LocalCluster

        cores = os.cpu_count() or 1
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Runner(client=Client(cluster), cluster=cluster,
                      torch_threads=max(1, cores // workers))
    if device.startswith("cuda"):
        return Runner(in_flight=GPU_IN_FLIGHT)
    return Runner()
