"""The records: immutable, msgspec-encoded facts, one tagged union.

A record is never changed once written. Mutable things (where a path points,
whether a path is in error) are the latest claim about them, ordered by the
record's hybrid-logical-clock stamp ``hlc`` and then by machine id.

Compatibility rules (see docs/format.md): a new field always gets a default;
readers ignore fields they do not know; a record type a reader does not know
is skipped, never fatal.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mstore.model.meta import Meta

SCHEMA_VERSION = 1


class Record(msgspec.Struct, tag_field="t", omit_defaults=True, kw_only=True):
    hlc: int  # hybrid logical clock: (wall milliseconds << 16) | counter


class AssetRecorded(Record, tag="asset"):
    """An asset's content was hashed and probed. Same id => same content => same facts,
    up to how well they were probed: the record with the highest ``probe`` wins."""

    id: str  # BLAKE3 hex of the content
    size: int
    meta: Meta
    probe: int = 0  # version of the probers that made ``meta`` (PROBE_VERSION)


class PathSeen(Record, tag="seen"):
    """``path`` under archive root ``root`` holds asset ``asset`` (new, changed or moved there)."""

    root: str
    path: bytes  # relative to the root, raw file-system bytes ("/"-separated)
    asset: str
    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int = 0  # inode change time; 0 = not recorded (records written before it was)
    # the file had changed moments before it was read, so a later change within the same
    # timestamp tick would leave (size, mtime_ns, inode, ctime_ns) alike: read it again next time
    racy: bool = False


class PathGone(Record, tag="gone"):
    """``path`` no longer exists; the asset it held is kept with its history."""

    root: str
    path: bytes
    asset: str


class PathError(Record, tag="error"):
    """``path`` could not be cataloged. Cleared by a later PathSeen, PathGone or PathOk of
    that path."""

    root: str
    path: bytes
    reason: str  # short machine-stable reason, e.g. "unreadable", "fifo", "symlink-outside"
    detail: str = ""


class PathOk(Record, tag="ok"):
    """What could not be cataloged at ``path`` is not there any more: a directory lists
    again, a FIFO or a device went. It clears the path's error and claims nothing else
    (a file there is recorded by PathSeen)."""

    root: str
    path: bytes


class LinkSeen(Record, tag="link"):
    """``path`` is a symbolic link to the regular file ``target`` of the same root.

    A link is not a copy: it is never a path of the asset its target holds (so never
    part of a duplicate group), and its content is never read.
    """

    root: str
    path: bytes
    target: bytes  # the file it resolves to (every link on the way followed), root-relative


class LinkGone(Record, tag="unlink"):
    """The link at ``path`` is gone (removed, or replaced by something that is not a link)."""

    root: str
    path: bytes


class AddFinished(Record, tag="add"):
    """One ``mstore add`` (or watcher batch) ended; its summary."""

    roots: list[str]
    started_ms: int
    finished_ms: int
    new: int = 0
    changed: int = 0
    moved: int = 0
    missing: int = 0
    unchanged: int = 0
    errors: int = 0
    interrupted: bool = False
    unavailable: list[str] = []  # roots not there to catalog (catalog/add.py): left as they were


RESOURCES = ("cpu", "io", "gpu")  # resource classes: a tool's, a step's, a task queue's


class StepSpec(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One resolved step of a run: tool, pinned version, full params."""

    name: str
    tool: str
    version: str
    params: dict = {}
    shape: str = "per-asset"  # or "aggregate"
    kinds: list[str] = []  # asset kinds the step applies to (empty: all)
    needs: list[str] = []  # earlier steps whose artifacts are inputs
    resource: str = "cpu"  # the task queue class that runs it: cpu, io or gpu (the tool's)


class RunStarted(Record, tag="run"):
    """A run was requested: everything needed to execute and to explain it later."""

    run: str  # run id, also the Temporal workflow id
    pipeline: str
    steps: list[StepSpec]
    policy: str  # "sandbox" | "production"
    selection: str  # the query or collection the units were chosen by
    units_object: str  # object id: msgpack list of asset ids, in unit order
    total: int  # number of units
    sample: str = ""  # sandbox sample spec, e.g. "50" or "10%"
    caps: dict = {}  # resource caps: max_concurrency, max_units, max_bytes
    parent: str = ""  # the run this one reruns
    ttl_days: float = 0.0  # sandbox artifacts expire this long after they are made
    force: bool = False
    host: str = ""


RUN_STATES = ("running", "paused", "completed", "failed", "cancelled")


class RunState(Record, tag="runstate"):
    """A run changed state: one of RUN_STATES."""

    run: str
    state: str
    detail: str = ""


class UnitDone(Record, tag="unit"):
    """Coverage: one unit of one step of a run finished (done, reused or failed)."""

    run: str
    step: str
    unit: str  # asset id, or "*" for an aggregate step
    status: str  # "done" | "reused" | "failed"
    attempts: int = 1
    duration_ms: int = 0
    error: str = ""
    artifacts: list[str] = []


class ArtifactMade(Record, tag="artifact"):
    """A derived result and its lineage. Payload in an object, or small ``data`` inline."""

    id: str  # BLAKE3 of (reuse key, kind, index): same derivation -> same id
    kind: str
    run: str
    step: str
    tool: str
    version: str
    params: dict = {}
    reuse_key: str = ""  # BLAKE3 of (tool, version, params, input ids)
    asset: str = ""  # the asset it describes ("" for aggregate results)
    inputs: list[str] = []  # input asset ids and artifact ids
    members: list[str] = []  # aggregate results: the assets it is about
    payload: str = ""  # object id of the payload file
    filename: str = ""  # the name the tool gave the payload
    data: Any = None
    meta: dict = {}
    policy: str = "production"
    expires_ms: int = 0  # sandbox: when gc may drop it (0 = never)
    host: str = ""


class ArtifactsDropped(Record, tag="gc"):
    """Garbage collection dropped these (expired, unreferenced sandbox) artifacts."""

    ids: list[str]


class CollectionDefined(Record, tag="collection"):
    """A named selection: a dynamic query, or a frozen list of assets (an object)."""

    name: str
    query: str = ""
    members_object: str = ""  # frozen: object id of a msgpack list of asset ids
    count: int = 0
    deleted: bool = False


class Label(Record, tag="label"):
    """A person's judgement about an asset (e.g. keep / not-keep in a duplicate group)."""

    asset: str
    key: str
    value: str
    about: str = ""  # the artifact judged (e.g. a duplicate-group id)


AnyRecord = (AssetRecorded | PathSeen | PathGone | PathError | PathOk | LinkSeen | LinkGone
             | AddFinished
             | RunStarted | RunState | UnitDone | ArtifactMade | ArtifactsDropped
             | CollectionDefined | Label)


class Unknown(msgspec.Struct, tag_field="t", kw_only=True):
    """Placeholder for a record type written by a newer mstore."""

    hlc: int = 0
