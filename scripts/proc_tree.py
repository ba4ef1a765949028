"""Memory of a whole process tree (a driver, its JVM, its Python workers), sampled from /proc.

A process's own high-water mark misses its children, and the children peak at other moments than
the parent: sampling the tree's summed RSS at intervals sees the real peak (within one interval).
Linux only (reads /proc); elsewhere the figures are 0.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

SAMPLE_SECONDS = 0.25
MB = 1024 * 1024


@dataclass
class TreePeaks:
    """Peak resident memory (MB) by kind of process in a process tree, and of the whole tree."""

    jvm: float = 0.0
    python_driver: float = 0.0
    python_workers: float = 0.0
    tree: float = 0.0


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().decode("utf-8", "replace")
        except OSError:
            continue  # the process ended while we looked
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB
    except (OSError, IndexError, ValueError):
        return 0.0


def _kind(pid: int, root: int) -> str:
    if pid == root:
        return "python_driver"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return "other"
    if "java" in cmdline.split(" ", 1)[0]:
        return "jvm"
    if "python" in cmdline:
        return "python_workers"
    return "other"


def sample_tree(root: int) -> dict[str, float]:
    """Current RSS (MB) of `root` and all its descendants, summed by kind and in total."""
    children = _children_map()
    totals = {"jvm": 0.0, "python_driver": 0.0, "python_workers": 0.0, "tree": 0.0}
    stack = [root]
    while stack:
        pid = stack.pop()
        rss = _rss_mb(pid)
        kind = _kind(pid, root)
        if kind in totals:
            totals[kind] += rss
        totals["tree"] += rss
        stack.extend(children.get(pid, ()))
    return totals


class TreeSampler(threading.Thread):
    """Samples a process tree until stopped; keeps the peak of each kind."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peaks = TreePeaks()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for kind, value in sample_tree(self.pid).items():
                setattr(self.peaks, kind, max(getattr(self.peaks, kind), value))
            self._halt.wait(self.interval)

    def stop(self) -> TreePeaks:
        self._halt.set()
        self.join()
        return self.peaks

    def __enter__(self) -> TreeSampler:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
