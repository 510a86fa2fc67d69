"""people: faces grouped into people, incrementally, one ``person`` artifact per person.

A run builds on the newest earlier result of its policy (``req.previous``, the manifest's
``incremental``), so clustering never starts over:

1. every face of the selection that an earlier person held (same asset, same frame, boxes
   overlapping by IoU >= 0.5 — so also across a new detector or model version) stays
   with that person; a "this face is that person" label (``face-person:``, written by a
   merge) moves it there; a "not this person" label (``face-not:``, written by a split)
   takes it away from that person for good;
2. each person's centre is the mean embedding of its faces (faces of assets outside this
   selection count through the earlier centre and their number);
3. every other face goes to the person with the nearest centre, if nearer than
   ``threshold`` and not a person it was split from;
4. only what is left is clustered, among itself, into new people (each face joins the
   nearest new cluster under ``threshold``, else starts one), in a fixed order.

Steps 3 and 4 cost O(new faces x people) and O(left faces x new clusters): 1,000 new faces
against 10,000 people is one 1,000 x 10,000 matrix product, well under a second; a first
run over 100,000 faces (all of them step 4) ~100 s here (docs/people.md). A person's id
is ``p`` + 10 hex digits of BLAKE3 of the face that started it, and it never changes while
the person has a face; names are labels on the id (``mstore people name``), so they stay.

Each ``person`` artifact: ``members`` (the assets it appears in), data ``person`` (the id),
``faces`` (``[asset, t, box]``: t is null for photos, box as in the faces artifact),
``centroid`` (128 float32, base64), ``count`` (faces), ``model`` (of the embeddings).
"""

from __future__ import annotations

import base64
from typing import Any

from mstore.tools.api import OutputArtifact, Progress, ToolRequest, ToolResult, box_iou

MATCH_IOU = 0.5
DIM = 128
BLOCK = 1024  # new faces per distance matrix (1024 x 10k people: 80 MB of float64)


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    import numpy as np

    threshold = float(req.params.get("threshold", 0.5))
    min_quality = float(req.params.get("min_quality", 0.2))
    result = ToolResult()

    # the faces of this selection
    faces: list[tuple[str, float | None, list[float]]] = []
    vectors: list[Any] = []
    model = ""
    selected = set()
    for inp in req.inputs:
        selected.add(inp.asset)
        art = inp.artifacts.get("faces")
        if art is None or not isinstance(art.data, dict):
            continue
        try:
            for f in art.data.get("faces") or []:
                if float(f.get("quality", 1.0)) < min_quality:
                    continue
                v = np.frombuffer(base64.b64decode(f["embedding"]), dtype="<f4")
                if v.shape != (DIM,):
                    raise ValueError(f"embedding of {v.shape[0]} values, not {DIM}")
                faces.append((inp.asset, f.get("t"), [float(x) for x in f["box"]]))
                vectors.append(v)
            model = str(art.data.get("model", model))
        except (KeyError, TypeError, ValueError) as e:
            result.failed[inp.asset] = f"faces artifact {art.id[:12]} is not readable: {e}"
    emb = np.array(vectors, dtype=np.float64).reshape(len(vectors), DIM)
    progress(0.1, f"{len(faces)} faces")

    # earlier people: their faces in this selection (to match again) and the rest (kept)
    earlier: dict[str, dict] = {}
    known: dict[str, list[tuple[float | None, list[float], str]]] = {}
    for art in req.previous:
        d = art.data if isinstance(art.data, dict) else {}
        pid = d.get("person")
        if art.kind != "person" or not isinstance(pid, str):
            continue
        kept = [f for f in d.get("faces") or [] if f[0] not in selected]
        for a, t, box in (f for f in d.get("faces") or [] if f[0] in selected):
            known.setdefault(a, []).append((t, box, pid))
        earlier[pid] = {"kept": kept, "centroid": d.get("centroid"), "model": d.get("model"),
                        "count": int(d.get("count", 0))}

    forced: dict[str, list[tuple[float | None, list[float], str]]] = {}
    forbidden: dict[str, list[tuple[float | None, list[float], str]]] = {}
    for lab in req.labels:  # oldest first: a newer label about the same face wins
        parsed = _label(lab)
        if parsed is not None:
            kind, pid, t, box = parsed
            (forced if kind == "face-person" else forbidden).setdefault(
                lab["asset"], []).append((t, box, pid))

    # 1. faces that keep (or are told) their person
    owner: list[str | None] = [None] * len(faces)
    before: list[str | None] = [None] * len(faces)  # the person it was, in the last result
    banned: list[set[str]] = [set() for _ in faces]
    locked = [False] * len(faces)
    for i, (a, t, box) in enumerate(faces):
        banned[i] = {p for p in _matching(forbidden.get(a, []), t, box, every=True)}
        told = _matching(forced.get(a, []), t, box, every=True)  # the newest label last
        had = _matching(known.get(a, []), t, box)
        before[i] = had[0] if had else None
        if told and told[-1] not in banned[i]:
            owner[i], locked[i] = told[-1], True
        elif had and had[0] not in banned[i]:
            owner[i] = had[0]

    # 2. centres: the faces kept from before count through the earlier centre (its sum,
    # less the faces of this selection it held, whose embeddings are these same ones when
    # the model is the same); from another model, only the faces seen now count
    seen_again: dict[str, list[int]] = {}
    for i, b in enumerate(before):
        if b is not None:
            seen_again.setdefault(b, []).append(i)
    centres: dict[str, tuple[Any, int]] = {}  # pid -> (sum of embeddings, count)
    for pid, e in earlier.items():
        if e["kept"] and e["centroid"] and e["model"] == model:
            c = np.frombuffer(base64.b64decode(e["centroid"]), dtype="<f4").astype(np.float64)
            mine = seen_again.get(pid, [])
            n = e["count"] - len(mine)
            if n > 0:
                centres[pid] = (c * e["count"] - emb[mine].sum(axis=0), n)
    for i, pid in enumerate(owner):
        if pid is not None:
            s, n = centres.get(pid, (np.zeros(DIM), 0))
            centres[pid] = (s + emb[i], n + 1)
    progress(0.3, f"{sum(o is not None for o in owner)} faces kept their person")

    # 3. the rest to the nearest person, against the centres as they were (order-free):
    # one matrix of distances, new faces x people, in blocks to bound memory
    pids = sorted(centres)
    rest = [i for i, o in enumerate(owner) if o is None]
    if pids and rest:
        mat = np.array([centres[p][0] / centres[p][1] for p in pids])
        for start in range(0, len(rest), BLOCK):
            block = rest[start:start + BLOCK]
            dist = _distances(emb[block], mat)
            for row, i in enumerate(block):
                j = int(np.argmin(dist[row]))
                if dist[row, j] >= threshold:
                    continue
                if pids[j] in banned[i]:  # split off the nearest: the next nearest allowed
                    j = next((int(k) for k in np.argsort(dist[row])
                              if dist[row, k] < threshold and pids[k] not in banned[i]), -1)
                if j >= 0:
                    owner[i] = pids[j]
    progress(0.6, "assigned to known people")

    # 4. what is left: new people (leader clustering with running centres, fixed order)
    order = sorted((i for i, o in enumerate(owner) if o is None), key=lambda i: _key(faces[i]))
    size = max(1, len(order))
    sums, cent = np.zeros((size, DIM)), np.zeros((size, DIM))
    counts, norms = np.zeros(size), np.zeros(size)  # norms: |centre|^2, for the distances
    new_ids: list[str] = []
    taken = set(earlier) | set(centres)
    limit = threshold * threshold
    for i in order:
        k = len(new_ids)
        j = -1
        if k:
            e = emb[i]
            d2 = norms[:k] - 2 * (cent[:k] @ e) + e @ e  # one matrix-vector product
            best = int(np.argmin(d2))
            if d2[best] < limit and new_ids[best] not in banned[i]:
                j = best
        if j < 0:
            new_ids.append(_new_id(_key(faces[i]), taken))
            j = k
        sums[j] += emb[i]
        counts[j] += 1
        cent[j] = sums[j] / counts[j]
        norms[j] = cent[j] @ cent[j]
        owner[i] = new_ids[j]
    for j, pid in enumerate(new_ids):
        centres[pid] = (sums[j], int(counts[j]))
    progress(0.9, f"{len(new_ids)} new people")

    # the result: every person with a face, in this selection or kept from before
    members: dict[str, list[list]] = {}
    for pid, e in earlier.items():
        if e["kept"]:
            members.setdefault(pid, []).extend(e["kept"])
    for (a, t, box), pid in zip(faces, owner, strict=True):
        members.setdefault(pid, []).append([a, t, box])  # type: ignore[arg-type]
    for pid in sorted(members):
        fs = sorted(members[pid], key=lambda f: (f[0], f[1] or 0.0, f[2]))
        s, n = centres.get(pid, (None, 0))
        centroid = (base64.b64encode((s / n).astype("<f4").tobytes()).decode("ascii")
                    if n else earlier.get(pid, {}).get("centroid"))
        result.artifacts.append(OutputArtifact(
            kind="person", members=sorted({f[0] for f in fs}),
            data={"person": pid, "faces": fs, "centroid": centroid, "count": len(fs),
                  "model": model if n else earlier.get(pid, {}).get("model", model)},
            meta={"count": len(fs)}))
    progress(1.0, f"{len(members)} people")
    return result


def _distances(a: Any, b: Any) -> Any:
    """L2 distances between the rows of ``a`` and of ``b`` (|a|^2 - 2ab + |b|^2)."""
    import numpy as np

    d2 = (a * a).sum(axis=1)[:, None] - 2 * a @ b.T + (b * b).sum(axis=1)[None, :]
    return np.sqrt(np.maximum(d2, 0.0))


def _key(face: tuple[str, float | None, list[float]]) -> str:
    a, t, box = face
    return f"{a}:{'' if t is None else t}:{','.join(f'{v:.4f}' for v in box)}"


def _new_id(seed: str, taken: set[str]) -> str:
    import blake3

    h = blake3.blake3(seed.encode()).hexdigest()
    for n in range(10, len(h)):
        pid = "p" + h[:n]
        if pid not in taken:
            taken.add(pid)
            return pid
    raise AssertionError("no free person id")  # 2^-256: not in this universe


def _label(lab: dict[str, str]) -> tuple[str, str, float | None, list[float]] | None:
    """``face-person:<t>:<box>`` = person, or ``face-not:<person>:<t>:<box>`` = person."""
    parts = lab.get("key", "").split(":")
    try:
        if parts[0] == "face-person" and len(parts) == 3:
            t, box = parts[1], parts[2]
        elif parts[0] == "face-not" and len(parts) == 4:
            t, box = parts[2], parts[3]
        else:
            return None
        coords = [float(v) for v in box.split(",")]
    except ValueError:
        return None
    if len(coords) != 4 or not lab.get("value"):
        return None
    return parts[0], lab["value"], (float(t) if t else None), coords


def _matching(items: list[tuple[float | None, list[float], str]], t: float | None,
              box: list[float], every: bool = False) -> list[str]:
    """Persons of ``items`` whose face is this one (same frame, IoU >= MATCH_IOU): the
    best match first, or, with ``every``, all of them (in the order given)."""
    hits = []
    for it, ibox, pid in items:
        if (it is None) != (t is None) or (t is not None and abs(float(it) - t) > 0.01):
            continue
        iou = box_iou(ibox, box)
        if iou >= MATCH_IOU:
            hits.append((iou, pid))
    if every:
        return [p for _, p in hits]
    return [p for _, p in sorted(hits, key=lambda h: -h[0])]
