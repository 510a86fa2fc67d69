"""``mstore watch``: catalog files as they appear.

File-system events are hints, never truth:
- an event only marks a path dirty; a dirty path is cataloged once it has
  stopped changing (same size, mtime and ctime across a settle interval);
- a periodic full scan (``rescan`` seconds) reconciles whatever events were
  missed: queue overflows, bulk copies, changes while the watcher was down;
- where inotify cannot serve (watch limit reached, unsupported filesystem) the
  watcher falls back to polling.
Each batch goes through the same ``Adder`` as ``mstore add`` and fires the
``post-add`` hook with the ids of new content.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mstore.catalog.add import Adder, AddSummary, Target
from mstore.store.store import Store

SETTLE = 0.4  # seconds a file must stay unchanged before it is hashed
TICK = 0.2


@dataclass
class _Dirty:
    first: float
    last_event: float
    sig: tuple[int, int, int] | None = None  # (size, mtime_ns, ctime_ns) at the last check


@dataclass
class WatchState:
    backend: str = ""
    batches: int = 0
    last_scan: float = 0.0
    dirty: dict[tuple[str, bytes], _Dirty] = field(default_factory=dict)


def _signature(path: bytes) -> tuple[int, int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Watcher:
    def __init__(self, store: Store, adder: Adder, targets: list[Target], *,
                 rescan: float = 300.0, polling: bool = False,
                 on_batch: Callable[[AddSummary], None] | None = None) -> None:
        self.store = store
        self.adder = adder
        self.targets = targets
        self.rescan = rescan
        self.force_polling = polling
        self.on_batch = on_batch
        self.state = WatchState()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer = None

    # -- events -------------------------------------------------------------------
    def _mark(self, src: bytes | str) -> None:
        path = os.fsencode(src)
        for t in self.targets:
            root = os.fsencode(t.root_path)
            if path == root or not path.startswith(root.rstrip(b"/") + b"/"):
                continue
            rel = path[len(root.rstrip(b"/")) + 1:]
            if t.sub and not (rel == t.sub or rel.startswith(t.sub + b"/")):
                continue
            if os.fsencode(self.store.layout.root) in path:
                return
            now = time.monotonic()
            with self._lock:
                d = self.state.dirty.get((t.root, rel))
                if d is None:
                    self.state.dirty[(t.root, rel)] = _Dirty(now, now)
                else:
                    d.last_event = now
            return

    def _start_observer(self) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                watcher._mark(event.src_path)
                dest = getattr(event, "dest_path", "")
                if dest:
                    watcher._mark(dest)

        def schedule(obs) -> None:  # noqa: ANN001
            for t in self.targets:
                obs.schedule(Handler(), str(t.root_path / os.fsdecode(t.sub)), recursive=True)
            obs.start()

        if not self.force_polling:
            try:
                obs = Observer()
                schedule(obs)
                self._observer, self.state.backend = obs, "inotify"
                return
            except OSError:
                pass  # watch limit reached or unsupported filesystem: poll instead
        obs = PollingObserver(timeout=1.0)
        schedule(obs)
        self._observer, self.state.backend = obs, "polling"

    # -- the loop -----------------------------------------------------------------
    def full_scan(self) -> AddSummary:
        s = self.adder.run(self.targets)
        self.state.last_scan = time.monotonic()
        self._after(s)
        return s

    def _after(self, s: AddSummary) -> None:
        self.state.batches += 1
        self._save_state()
        if self.on_batch:
            self.on_batch(s)

    def _save_state(self) -> None:
        d = self.store.layout.watch_state
        d.mkdir(parents=True, exist_ok=True)
        (d / "state.json").write_text(json.dumps({
            "pid": os.getpid(), "backend": self.state.backend, "batches": self.state.batches,
            "last_scan_unix": time.time(), "targets": [
                str(t.root_path / os.fsdecode(t.sub)) for t in self.targets]}))

    def settled(self) -> dict[str, list[bytes]]:
        """Dirty paths that stopped changing, grouped by root; they leave the dirty set."""
        now = time.monotonic()
        ready: dict[str, list[bytes]] = {}
        roots = {t.root: t.root_path for t in self.targets}
        with self._lock:
            for key, d in list(self.state.dirty.items()):
                if now - d.last_event < SETTLE:
                    continue
                root, rel = key
                sig = _signature(os.path.join(os.fsencode(roots[root]), rel))
                if sig is not None and sig != d.sig:
                    d.sig, d.last_event = sig, now  # still changing (or first check): wait
                    continue
                del self.state.dirty[key]
                ready.setdefault(root, []).append(rel)
        return ready

    def step(self) -> AddSummary | None:
        ready = self.settled()
        if not ready:
            return None
        total = AddSummary()
        roots = {t.root: t.root_path for t in self.targets}
        for root, rels in ready.items():
            s = self.adder.run_files(root, roots[root], rels)
            for k in ("new", "changed", "moved", "missing", "unchanged", "errors"):
                setattr(total, k, getattr(total, k) + getattr(s, k))
            total.new_assets += s.new_assets
        self._after(total)
        return total

    def run(self, *, duration: float | None = None) -> None:
        self._start_observer()
        try:
            self.full_scan()
            deadline = None if duration is None else time.monotonic() + duration
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self.step()
                if time.monotonic() - self.state.last_scan >= self.rescan:
                    self.full_scan()
                self._stop.wait(TICK)
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        obs, self._observer = self._observer, None
        if obs is not None:
            obs.stop()
            obs.join(timeout=5)


def watch_targets(store: Store, paths: list[Path]) -> list[Target]:
    from mstore.catalog.add import resolve_targets

    return resolve_targets(store, paths)
