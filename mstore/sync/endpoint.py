"""The two ends of a transfer behind one interface: this machine's own store directory
(``LocalEndpoint``, also the far side of a local-path remote and what ``mstore sync-serve``
serves) and a store reached over ssh (``SshEndpoint``)."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from mstore import __version__
from mstore.errors import MstoreError, NoStoreError, RemoteError
from mstore.store import config as config_mod
from mstore.store.layout import Layout
from mstore.store.segments import segment_name
from mstore.sync import inventory as inv_mod
from mstore.sync import wire
from mstore.sync.inventory import Inventory, Where
from mstore.sync.items import (
    CHUNK,
    GoneItem,
    Item,
    ObjectItem,
    PackItem,
    SegmentItem,
    Stored,
)
from mstore.sync.pump import FrameReader, ThreadedWriter
from mstore.sync.receive import Receiver
from mstore.sync.url import Location

GET_BATCH = 20_000  # object ids per request over ssh


class Endpoint:
    """One side of a transfer."""

    description: str

    def hello(self) -> dict:  # protocol, format, version, path, config (config.toml text)
        raise NotImplementedError

    def inventory(self, *, objects: bool = True) -> Inventory:
        raise NotImplementedError

    def fetch(self, objects: list[bytes], segments: list[tuple[str, int]],
              packs: Sequence[str] = ()) -> Iterator[Item]:
        """The items asked for: whole packs, then objects (in an order cheap to read), then
        segments."""
        raise NotImplementedError

    def put(self, items: Iterable[Item]) -> Stored:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalEndpoint(Endpoint):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)
        try:
            is_store = (root / "config.toml").is_file() and (root / "records").is_dir()
        except OSError:
            is_store = False
        if not is_store:
            raise NoStoreError(f"{root} is not an mstore store")
        config_mod.load(root / "config.toml")  # a newer format is refused here too
        self.layout = Layout(root)
        self._where: dict[bytes, Where] | None = None

    def hello(self) -> dict:
        return {"protocol": wire.PROTOCOL, "format": config_mod.FORMAT, "version": __version__,
                "path": str(self.root), "config": (self.root / "config.toml").read_text()}

    def inventory(self, *, objects: bool = True) -> Inventory:
        inv = inv_mod.of_store(self.root, objects=objects)
        if objects:
            self._where = inv.objects
        return inv

    def fetch(self, objects: list[bytes], segments: list[tuple[str, int]],
              packs: Sequence[str] = ()) -> Iterator[Item]:
        for name in packs:
            yield self._whole_pack(name)
        if objects and self._where is None:
            self.inventory()
        where = self._where or {}
        # pack by pack, in file order: one sequential read per pack
        order = sorted(objects, key=lambda o: (w.pack, w.offset) if (w := where.get(o))
                       else ("", 0))
        pack_name, pack_file = "", None
        try:
            for oid in order:
                w = where.get(oid)
                if w is None:
                    yield GoneItem(oid)
                elif w.pack:
                    if w.pack != pack_name:
                        if pack_file is not None:
                            pack_file.close()
                        pack_name, pack_file = w.pack, self._open_pack(w.pack)
                    if pack_file is None:
                        yield GoneItem(oid)  # gc rewrote the pack since it was listed
                        continue
                    pack_file.seek(w.offset)
                    yield ObjectItem(oid, w.size, iter((pack_file.read(w.size),)))
                else:
                    yield self._loose(oid, w.size)
        finally:
            if pack_file is not None:
                pack_file.close()
        for lane, seq in segments:
            try:
                data = (self.layout.records / lane / segment_name(seq)).read_bytes()
            except FileNotFoundError:
                continue  # moved aside by fsck since it was listed
            yield SegmentItem(lane, seq, data)

    def _whole_pack(self, name: str) -> Item:
        path = self.layout.objects / "packs" / f"{name}.pack"
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the generator
            size = os.fstat(f.fileno()).st_size
        except FileNotFoundError:  # gc rewrote it since it was listed
            return GoneItem(bytes.fromhex(name))
        return PackItem(name, size, _read_chunks(f))

    def _open_pack(self, name: str):  # noqa: ANN202 - a binary file, or None
        try:
            return open(self.layout.objects / "packs" / f"{name}.pack", "rb")  # noqa: SIM115
        except FileNotFoundError:
            return None

    def _loose(self, oid: bytes, size: int) -> Item:
        hexid = oid.hex()
        path = self.layout.objects / hexid[:2] / hexid[2:4] / hexid
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            return GoneItem(oid)
        return ObjectItem(oid, size, _read_chunks(f))

    def put(self, items: Iterable[Item]) -> Stored:
        from mstore.store.store import Store

        store = Store(self.root)
        try:
            store.check_writable()
            stored = Receiver(self.layout).take(items)
            # bring this side's index up to date, so its `find`, `show` and UI see the new
            # records at once (any later command would apply them too)
            with contextlib.suppress(MstoreError):
                store.catch_up()
            return stored
        finally:
            store.close()


def _read_chunks(f) -> Iterator[bytes]:  # noqa: ANN001 - an open binary file
    with f:
        while block := f.read(CHUNK):
            yield block


class SshEndpoint(Endpoint):
    """A store on another host: ``ssh HOST <mstore> sync-serve PATH``, frames on its stdin
    and stdout (wire.py). The ssh client is the system's (keys, ~/.ssh/config and agents
    work as for git); ``$MSTORE_SSH`` replaces the ``ssh`` command, like GIT_SSH_COMMAND."""

    def __init__(self, loc: Location, mstore: str = "mstore") -> None:
        self.loc = loc
        self.description = loc.url
        ssh = shlex.split(os.environ.get("MSTORE_SSH") or "ssh")
        argv = [*ssh, *(["-p", str(loc.port)] if loc.port else []), loc.destination,
                f"{mstore} sync-serve {shlex.quote(loc.path)}"]
        self._stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._stderr, bufsize=1 << 20)
        except OSError as e:
            raise RemoteError(f"cannot start {ssh[0]}: {e.strerror}") from None
        self._in = self.proc.stdout
        self._out = self.proc.stdin

    def _call(self, msg: dict) -> dict:
        try:
            wire.send(self._out, msg)
            self._out.flush()
            return self._answer(wire.recv(self._in))
        except (wire.WireError, BrokenPipeError, ConnectionResetError) as e:
            raise self._broken(e) from None

    def _answer(self, msg: dict) -> dict:
        if "error" in msg:
            raise RemoteError(f"{self.loc.url}: {msg['error']}")
        return msg

    def _broken(self, e: BaseException) -> RemoteError:
        """One line that says why the other side went away: ssh's or the remote's own."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._stderr.seek(0)
        lines = [ln.strip() for ln in self._stderr.read().decode(errors="replace").splitlines()
                 if ln.strip()]
        why = lines[-1] if lines else str(e)
        if self.proc.returncode == 127:  # the remote shell found no such command
            why += (" (is mstore installed there? name its path with [remotes.NAME] mstore "
                    "or --remote-mstore)")
        return RemoteError(f"{self.loc.url}: {why}")

    def hello(self) -> dict:
        return self._call({"op": "hello", "protocol": wire.PROTOCOL})

    def inventory(self, *, objects: bool = True) -> Inventory:
        return Inventory.decode(self._call({"op": "inventory", "objects": objects}))

    def fetch(self, objects: list[bytes], segments: list[tuple[str, int]],
              packs: Sequence[str] = ()) -> Iterator[Item]:
        batches: list[dict] = [{"op": "get", "packs": list(packs), "objects": [],
                                "segments": []}] if packs else []
        batches += [{"op": "get", "objects": objects[i:i + GET_BATCH], "segments": []}
                    for i in range(0, len(objects), GET_BATCH)]
        for i in range(0, len(segments), GET_BATCH):
            batches.append({"op": "get", "objects": [],
                            "segments": [list(s) for s in segments[i:i + GET_BATCH]]})
        for req in batches:
            try:
                wire.send(self._out, req)
                self._out.flush()
            except (BrokenPipeError, ConnectionResetError) as e:
                raise self._broken(e) from None
            # frames are read ahead in a thread while this one checks and writes
            ahead = FrameReader(lambda: wire.recv(self._in), wire.last_of_answer)
            yield from wire.recv_items(lambda a=ahead: self._next_frame(a))

    def _next_frame(self, ahead: FrameReader) -> dict:
        """The next frame of an answer; a broken line is a RemoteError wherever it is read
        (an item's pieces are read by whoever consumes the item)."""
        try:
            msg = ahead.next()
        except wire.WireError as e:
            raise self._broken(e) from None
        if "error" in msg:
            raise RemoteError(f"{self.loc.url}: {msg['error']}")
        return msg

    def put(self, items: Iterable[Item]) -> Stored:
        writer = ThreadedWriter(self._out)  # ssh takes frames while the next are read
        try:
            wire.send(writer, {"op": "put"})
            wire.send_items(writer, items)
            writer.flush()
            return Stored.from_dict(self._answer(wire.recv(self._in))["stored"])
        except (wire.WireError, BrokenPipeError, ConnectionResetError) as e:
            raise self._broken(e) from None
        finally:
            writer.close()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            wire.send(self._out, {"op": "bye"})
            self._out.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def open_endpoint(loc: Location, mstore: str = "mstore") -> Endpoint:
    if loc.is_ssh:
        ep: Endpoint = SshEndpoint(loc, mstore)
        try:
            hello = ep.hello()
        except BaseException:
            ep.close()
            raise
        _check_hello(hello, loc)
        return ep
    try:
        return LocalEndpoint(Path(loc.path))
    except NoStoreError as e:  # the remote, not this store, is the problem: exit 10
        raise RemoteError(e.message) from None


def _check_hello(hello: dict, loc: Location) -> None:
    if hello.get("protocol") != wire.PROTOCOL:
        raise RemoteError(f"{loc.url}: speaks sync protocol {hello.get('protocol')}, this "
                          f"mstore {wire.PROTOCOL} (use the same mstore version on both sides)")

