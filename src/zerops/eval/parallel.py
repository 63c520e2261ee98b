"""Computing an evaluation's shapes in parallel: local worker processes or tasks on a Ray cluster.

Each job computes one shape with the method and writes its prediction to the run's per-shape cache file
(atomic) with :func:`zerops.eval.prediction.compute_prediction`, as the sequential harness does;
:func:`zerops.eval.harness.run_eval` then scores every shape
in its usual order, so reports are identical to a sequential run. A worker process that dies (killed, out
of memory) loses only the shape it was computing, which is retried (``retries`` times) in a fresh pool; a
shape whose method raises a :class:`~zerops.errors.ZeropsError` (bad input) stops the run with that error.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from zerops.errors import ZeropsError
from zerops.eval.methods import get_method
from zerops.eval.partnete import load_partnete_shape
from zerops.eval.prediction import compute_prediction
from zerops.io.files import json_dumps

__all__ = ["compute_parallel", "compute_on_ray", "worker_threads", "cuda_devices"]

_METHODS: dict[str, Any] = {}     # per worker process: built methods, by method + options


def worker_threads(workers: int) -> int:
    """Threads each of ``workers`` processes may use so that together they fill the machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _init_worker(threads: int, counter: Any = None, gpus: Sequence[int] = ()) -> None:
    if counter is not None and gpus:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        # one GPU per worker (round robin), set before torch initializes CUDA in this process
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus[index % len(gpus)])
    os.environ["ZEROPS_THREADS"] = str(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        pass


def _init_pool_worker(threads: int, counter: Any = None, gpus: Sequence[int] = ()) -> None:
    """A local worker: Ctrl-C reaches the whole process group, but only the parent acts on it (it stops the
    workers), so no worker prints a traceback of its own."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(threads, counter, gpus)


def _stop_workers(pool: Any) -> None:
    """Cancel what has not started and end the workers now (an interrupted run keeps the finished shapes)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(timeout=10)


def _probe_ray(address: str | None) -> None:
    """An explicit ``host:port`` (or ``ray://host:port``) must accept a connection within a few seconds;
    Ray itself would retry for minutes."""
    import re
    import socket

    m = re.fullmatch(r"(?:ray://)?(?P<host>\[[^\]]+\]|[^:/\s]+):(?P<port>\d{1,5})", (address or "").strip())
    if m is None:
        return
    host, port = m.group("host").strip("[]"), int(m.group("port"))
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise ZeropsError(f"--ray {address}: nothing answers there ({exc.strerror or exc}); start the cluster "
                          "(`ray start --head`) or give its address") from None


def _compute_one(method: str, options: Mapping[str, Any], folder: str, path: str, key: str) -> str:
    """Compute one shape and save its prediction; returns ``folder``."""
    tag = method + json_dumps(dict(options), sort_keys=True, indent=None)
    run = _METHODS.get(tag)
    if run is None:
        run = _METHODS[tag] = get_method(method, **options)
    compute_prediction(run, load_partnete_shape(folder), method, Path(path), key)
    return folder


def cuda_devices() -> list[int]:
    """Indices of the visible CUDA GPUs (empty without torch or CUDA)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [int(v) for v in visible.split(",") if v.strip().isdigit()]
    try:
        import torch
        return list(range(torch.cuda.device_count()))
    except ImportError:
        return []


def compute_parallel(method: str, options: Mapping[str, Any], jobs: Sequence[tuple[str, str]], key: str,
                     workers: int, retries: int = 2, progress: bool = True) -> list[str]:
    """Compute ``jobs`` (folder, cache path) in ``workers`` local processes; returns the folders done.
    With ``device="cuda"`` in the options each worker is pinned to one GPU (round robin over the visible
    ones), so ``workers`` = number of GPUs runs one worker per GPU."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from tqdm.auto import tqdm

    todo = list(jobs)
    gpus = cuda_devices() if str(options.get("device", "cpu")).startswith("cuda") else []
    tries = {folder: 0 for folder, _ in todo}
    done: list[str] = []
    bar = tqdm(total=len(todo), desc=f"eval {method} ({workers} workers)", unit="shape", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    ctx = mp.get_context("spawn")          # no fork: onnxruntime / torch threads do not survive it
    try:
        while todo:
            broken = False
            counter = ctx.Value("i", 0)
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_pool_worker,
                                     initargs=(worker_threads(workers), counter, gpus)) as pool:
                futures = {pool.submit(_compute_one, method, dict(options), f, p, key): (f, p) for f, p in todo}
                failed = []
                try:
                    for fut in as_completed(futures):
                        folder, path = futures[fut]
                        try:
                            fut.result()
                        except BrokenProcessPool:
                            broken = True
                            failed.append((folder, path))
                            continue
                        except ZeropsError as err:
                            raise ZeropsError(f"{folder}: {err}") from None
                        done.append(folder)
                        bar.update(1)
                except KeyboardInterrupt:              # Ctrl-C or SIGTERM: the workers stop now, quietly
                    _stop_workers(pool)
                    raise
            if not broken:
                break
            todo = []
            for folder, path in failed:
                if Path(path).is_file():           # finished before the pool broke
                    done.append(folder)
                    bar.update(1)
                    continue
                tries[folder] += 1
                if tries[folder] > retries:
                    raise ZeropsError(f"{folder}: the worker computing this shape died {tries[folder]} times "
                                      "(out of memory?); rerun with fewer --workers")
                todo.append((folder, path))
    finally:
        bar.close()
    return done


def compute_on_ray(method: str, options: Mapping[str, Any], jobs: Sequence[tuple[str, str]], key: str,
                   address: str | None = None, retries: int = 2, progress: bool = True) -> list[str]:
    """Compute ``jobs`` as tasks on a Ray cluster (``address`` of a running cluster, or None for a local
    instance). Each task asks for one CPU, or one GPU when the method runs on cuda. The run's output folder
    must be reachable from the workers (a shared file system) since they write the per-shape files."""
    try:
        import ray
    except ImportError:
        raise ZeropsError("--ray needs Ray: pip install 'zerops[ray]'") from None
    from tqdm.auto import tqdm

    if not ray.is_initialized():
        _probe_ray(address)
        try:
            ray.init(address=address or None, ignore_reinit_error=True, log_to_driver=False,
                     include_dashboard=False)
        except Exception as err:  # ConnectionError, RuntimeError, ...
            raise ZeropsError(f"cannot start or reach Ray at {address or 'a local instance'} ({err})") from None
    gpu = str(options.get("device", "cpu")).startswith("cuda")
    task = ray.remote(num_cpus=0 if gpu else 1, num_gpus=1 if gpu else 0, max_retries=retries)(_ray_task)
    refs = {task.remote(method, dict(options), f, p, key): f for f, p in jobs}
    done: list[str] = []
    pending = list(refs)
    with tqdm(total=len(refs), desc=f"eval {method} (ray)", unit="shape", disable=not progress,
              file=sys.stderr, dynamic_ncols=True) as bar:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                done.append(ray.get(ready[0]))
            except Exception as err:  # RayTaskError wraps the worker's exception
                cause = getattr(err, "cause", None)
                msg = str(cause) if isinstance(cause, ZeropsError) else f"{type(err).__name__}: {err}"
                raise ZeropsError(f"{refs[ready[0]]}: {' '.join(msg.split())[:300]}") from None
            bar.update(1)
    return done


def _ray_task(method: str, options: Mapping[str, Any], folder: str, path: str, key: str) -> str:
    _init_worker(1)
    return _compute_one(method, options, folder, path, key)
