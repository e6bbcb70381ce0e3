"""The worker processes of a parity run: the runs split into tasks, and the tasks run a few at
a time, each as soon as the tasks it reads from are done.

A task is one worker process (``python -m parity._<worker> JOB_DIR FRAMEWORK TASK``) training
a share of one framework's runs. A run that reads another run's exports (a converter run reads
Keras's or torch's configs; torch's ``keras_f32`` reads Keras's measured constants) is in a task
that waits for the tasks holding its sources; every other run starts at once. A framework's
runs are split into shares of about `SHARE_SECONDS` of estimated CPU time (a worker costs a
few seconds to start), keeping the runs that share one JAX executable (a configuration's seeds
and noise-floor members) together, so no program is compiled twice. On ``jobs`` cores the
wall time is then about the total CPU time over ``jobs`` (the tasks of one framework depend on
no other), instead of the sum of each framework's time in turn.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ._config import CV, CV_FRAMEWORKS, MEMBERS, Run

# Estimated CPU seconds, measured on the committed runs (one core): a run of each framework
# after its first, a JAX compilation (once per executable), a worker's start (imports).
RUN_SECONDS = {"tf": 1.5, "keras-jax": 2.5, "keras-torch": 3.0, "torch": 0.35, "jax": 0.4}
COMPILE_SECONDS = 3.0
START_SECONDS = {"tf": 6.0, "keras-jax": 6.0, "keras-torch": 6.0, "torch": 2.0, "jax": 3.0}
CV_SECONDS = {"tf": 45.0, "torch": 6.0, "jax": 6.0}
SHARE_SECONDS = 90.0


@dataclasses.dataclass
class Task:
    """One worker process: ``runs`` of ``framework`` (and its cross-validation if ``cv``)."""

    name: str
    framework: str
    runs: list[Run]
    cv: bool = False
    needs: set[str] = dataclasses.field(default_factory=set)  # names of tasks it waits for
    cost: float = 0.0  # estimated CPU seconds


def worker_module(framework: str) -> str:
    return (
        "parity._keras_worker"
        if framework in ("tf", "keras-jax", "keras-torch")
        else f"parity._{framework}_worker"
    )


def executable(run: Run) -> tuple[Any, ...]:
    """What one JAX executable is compiled for: seeds and noise-floor members reuse it."""
    c = run.config
    family = "stock" if run.variant.startswith(MEMBERS) else run.variant
    return (c.preset, c.optimizer, c.penalty, c.dtype, family)


def group_cost(framework: str, runs: list[Run]) -> float:
    return len(runs) * RUN_SECONDS[framework] + (COMPILE_SECONDS if framework == "jax" else 0.0)


def plan(runs: list[Run], cv: CV | None, frameworks: list[str]) -> list[Task]:
    """The tasks of ``runs`` (in the order given), plus one per framework's cross-validation."""
    tasks: list[Task] = []
    home: dict[Run, str] = {}
    for fw in frameworks:
        mine = [r for r in runs if r.framework == fw]
        for part, dependent in (("", False), ("-reads", True)):
            groups: dict[tuple[Any, ...], list[Run]] = collections.defaultdict(list)
            for r in mine:
                if (r.source() is not None) is dependent:
                    groups[executable(r)].append(r)
            if not groups:
                continue
            total = sum(group_cost(fw, g) for g in groups.values())
            n = max(1, round(total / SHARE_SECONDS))
            shares = [Task(f"{fw}{part}-{i}", fw, []) for i in range(n)]
            # longest first, each to the least loaded share
            for g in sorted(groups.values(), key=lambda g: -group_cost(fw, g)):
                share = min(shares, key=lambda t: t.cost)
                share.runs += g
                share.cost += group_cost(fw, g)
            for t in shares:
                t.cost += START_SECONDS[fw]
                home.update((r, t.name) for r in t.runs)
            tasks += shares
        if cv and fw in CV_FRAMEWORKS:
            tasks.append(Task(f"{fw}-cv", fw, [], cv=True, cost=CV_SECONDS[fw]))
    for t in tasks:
        t.needs = {home[s] for r in t.runs if (s := r.source()) is not None and s in home}
    return tasks


def write_tasks(
    directory: Path, tasks: list[Task], runs: list[Run], cv: CV | None, epochs: int | None
) -> None:
    """``<task>.json``: the specs of the task's runs (and the cross-validation's)."""
    index = {r: i for i, r in enumerate(runs)}
    for t in tasks:
        specs = []
        for r in t.runs:
            h = r.hyper()
            if epochs:
                h["epochs"] = epochs
            src = r.source()
            specs.append(
                {
                    "index": index[r],
                    "name": r.name,
                    "framework": r.framework,
                    "variant": r.variant,
                    "config": dataclasses.asdict(r.config),
                    "hyper": h,
                    "source": index.get(src) if src else None,
                }
            )
        cv_spec = cv.spec() if cv and t.cv else None
        (directory / f"{t.name}.json").write_text(json.dumps({"runs": specs, "cv": cv_spec}))


PRINT = threading.Lock()


def run_task(task: Task, job_dir: Path, env: dict[str, str], failed: dict[str, str]) -> None:
    """Run one worker process, streaming its progress lines; record its error if it fails."""
    t0 = time.perf_counter()
    fw = task.framework
    proc = subprocess.Popen(
        [sys.executable, "-m", worker_module(fw), str(job_dir), fw, task.name],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    tail: collections.deque[str] = collections.deque(maxlen=60)
    for ln in proc.stderr:
        if ln.startswith(f"{fw} "):
            with PRINT:
                print("  " + ln.rstrip(), flush=True)
        else:
            tail.append(ln)
    proc.wait()
    with PRINT:
        if proc.returncode != 0:
            failed[task.name] = "".join(tail)[-4000:]
            print(f"parity: the {task.name} worker failed:\n{failed[task.name]}", flush=True)
        else:
            print(f"parity: {task.name} done in {time.perf_counter() - t0:.1f} s", flush=True)


def critical_path(tasks: list[Task]) -> dict[str, float]:
    """Each task's cost plus the longest chain of tasks waiting for it: started first."""
    waiting = {t.name: [u for u in tasks if t.name in u.needs] for t in tasks}
    memo: dict[str, float] = {}

    def length(t: Task) -> float:
        if t.name not in memo:
            memo[t.name] = t.cost + max((length(u) for u in waiting[t.name]), default=0.0)
        return memo[t.name]

    return {t.name: length(t) for t in tasks}


def run_all(tasks: list[Task], job_dir: Path, env: dict[str, str], jobs: int) -> dict[str, str]:
    """Run every task, at most ``jobs`` at once, each once the tasks it needs have ended (failed
    or not: its runs whose source is missing are skipped and that failure is reported).
    Returns the failed tasks' error output."""
    failed: dict[str, str] = {}
    priority = critical_path(tasks)
    pending = sorted(tasks, key=lambda t: -priority[t.name])
    running: dict[str, threading.Thread] = {}
    ended: set[str] = set()
    done = threading.Condition()

    def target(task: Task) -> None:
        try:
            run_task(task, job_dir, env, failed)
        finally:
            with done:
                ended.add(task.name)
                done.notify()

    with done:
        while pending or running:
            for name in [n for n in running if n in ended]:
                running.pop(name).join()
            ready = [t for t in pending if t.needs <= ended]
            while ready and len(running) < jobs:
                t = ready.pop(0)
                pending.remove(t)
                running[t.name] = threading.Thread(target=target, args=(t,))
                running[t.name].start()
            if not running:
                if pending:  # cannot happen: a task needs only tasks of earlier frameworks
                    raise RuntimeError(f"parity: tasks wait on each other: {pending}")
                break
            if not running.keys() & ended:
                done.wait()
    return failed


def cores() -> int:
    """The cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
