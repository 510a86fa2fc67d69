"""Identities that make reuse and lineage work.

reuse key = BLAKE3 of the canonical JSON of (tool id, tool version, params, input ids).
Any change of version, a param, or an input gives a new key, so exactly what depends
on the change is recomputed. An artifact's id is derived from its reuse key, kind
and index, so recomputing the same derivation (a retried chunk, a worker killed
mid-unit) names the same artifact and never duplicates it.
"""

from __future__ import annotations

from typing import Any

import blake3
import msgspec


def reuse_key(tool: str, version: str, params: dict[str, Any], inputs: list[str]) -> str:
    canon = msgspec.json.encode({"tool": tool, "version": version,
                                 "params": dict(sorted(params.items())), "inputs": inputs})
    return blake3.blake3(canon).hexdigest()


def artifact_id(key: str, kind: str, index: int, policy: str, forced_by: str = "") -> str:
    """Sandbox and production results of one derivation are distinct artifacts: a sandbox
    artifact expires, so a production run must never come to depend on one. A ``--force``
    run (``forced_by`` = its id) makes artifacts of its own: its recomputed results must
    not hide behind the ids of the ones it was asked to replace."""
    salt = f"\0{forced_by}" if forced_by else ""
    return blake3.blake3(f"{key}\0{kind}\0{index}\0{policy}{salt}".encode()).hexdigest()
