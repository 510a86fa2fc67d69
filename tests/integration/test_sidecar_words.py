"""``find text:`` (and ``show``, the asset page) over the words people gave their
pictures: titles, captions and keywords embedded in the picture (EXIF, IPTC, XMP) and in
its sidecars (an XMP file, a Google Takeout JSON) — kept up to date as sidecars arrive,
change and leave."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mstore.catalog.probe import image as image_probe
from mstore.catalog.probe import text as text_probe
from mstore.ui.app import create_app
from tests.fixtures.captions import iptc_app13, picture, takeout_json, xmp
from tests.helpers import mstore

LAKE_XMP = xmp(title="Caf\u00e9 au bord de l'eau",
               keywords=("Gro\u00dfmutter", "ni\u00f1os"))


def write_archive(archive: Path) -> None:
    trip = archive / "trip"
    trip.mkdir(parents=True)
    (trip / "lake.jpg").write_bytes(picture(color="blue"))
    (trip / "lake.jpg.xmp").write_bytes(LAKE_XMP)
    (trip / "beach.jpg").write_bytes(picture(
        color="yellow", app13=iptc_app13("Sonnenuntergang \u00fcber dem Meer", ("Strand",)),
        exif_words={0x9C9E: "sandcastle;Ni\u00f1os"}))
    (trip / "garden.png").write_bytes(picture(
        "PNG", color="green", xmp_packet=xmp(description="Les pivoines de Grand-m\u00e8re")))
    takeout = archive / "takeout"
    takeout.mkdir()
    (takeout / "IMG_0001.jpg").write_bytes(picture(color="red"))
    (takeout / "IMG_0001.jpg.json").write_bytes(
        takeout_json("IMG_0001.jpg", "Picknick unter der Linde"))


def hits(store: Path, value: str) -> dict[str, dict]:
    """path -> the match of ``text:value`` (kind, snippet ...)."""
    r = mstore("find", f"text:{value}", "--json", store=store)
    assert r.code in (0, 1), r.err
    return {row["paths"][0].split("/", 1)[1]: next(iter(row["match"].values()))
            for row in r.json_lines()}


@pytest.fixture()
def store(tmp_path: Path) -> tuple[Path, Path]:
    archive, store = tmp_path / "archive", tmp_path / "store"
    write_archive(archive)
    assert mstore("init", "--store", store, archive).code == 0
    assert mstore("add", store=store).code == 0
    return archive, store


def test_captions_and_keywords_are_found_wherever_they_are_written(store) -> None:
    _archive, s = store
    lake = hits(s, '"cafe au bord"')
    assert list(lake) == ["trip/lake.jpg"]  # the photo, not its sidecar
    assert lake["trip/lake.jpg"]["kind"] == "sidecar"
    assert "Caf\u00e9 au bord de l'eau" in lake["trip/lake.jpg"]["snippet"]
    assert list(hits(s, "GRO\u00dfMUTTER")) == ["trip/lake.jpg"]  # case folded
    assert sorted(hits(s, "ninos")) == ["trip/beach.jpg", "trip/lake.jpg"]  # diacritics too
    beach = hits(s, "sonnenuntergang")
    assert list(beach) == ["trip/beach.jpg"] and beach["trip/beach.jpg"]["kind"] == "metadata"
    assert list(hits(s, "sandcastle")) == ["trip/beach.jpg"]  # EXIF XPKeywords
    assert list(hits(s, '"pivoines de grand-mere"')) == ["trip/garden.png"]  # XMP in a PNG
    picnic = hits(s, "picknick")
    assert list(picnic) == ["takeout/IMG_0001.jpg"]
    assert picnic["takeout/IMG_0001.jpg"]["kind"] == "sidecar"
    shown = mstore("show", "trip/beach.jpg", store=s)
    assert "caption    Sonnenuntergang \u00fcber dem Meer" in shown.out
    assert "keywords   Strand, sandcastle, Ni\u00f1os" in shown.out
    lake_id = mstore("show", "trip/lake.jpg", "--json", store=s).json()["id"]
    with TestClient(create_app(s), base_url="http://localhost:8765") as c:
        page = c.get(f"/asset/{lake_id}").text
        found = c.get("/search", params={"q": "sonnenuntergang"}).text
    assert "Caf\u00e9 au bord de l&#39;eau  (from sidecar archive/trip/lake.jpg.xmp)" in page
    assert "Gro\u00dfmutter, ni\u00f1os" in page
    assert "beach.jpg" in found and "caption or keywords" in found


def test_sidecars_arriving_changing_and_leaving_change_what_is_found(store) -> None:
    archive, s = store
    trip = archive / "trip"
    (trip / "lake.jpg.xmp").write_bytes(xmp(description="Moulin \u00e0 vent",
                                            keywords=("windmill",)))
    (archive / "takeout" / "IMG_0001.jpg.json").unlink()
    (trip / "garden.xmp").write_bytes(xmp(hierarchical=("Places|Jard\u00edn bot\u00e1nico",)))
    assert mstore("add", store=s).code == 0
    assert list(hits(s, '"moulin a vent"')) == ["trip/lake.jpg"]
    assert hits(s, '"cafe au bord"') == {}
    assert hits(s, "GRO\u00dfMUTTER") == {}
    assert hits(s, "picknick") == {}
    assert list(hits(s, '"jardin botanico"')) == ["trip/garden.png"]  # a sidecar after its photo
    # the photo renamed away from its sidecar: the sidecar's words go with the name
    (trip / "lake.jpg").rename(trip / "pond.jpg")
    assert mstore("add", store=s).code == 0
    assert hits(s, "windmill") == {}


def test_an_old_store_gets_the_words_when_verify_reads_the_files_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive, s = tmp_path / "archive", tmp_path / "store"
    write_archive(archive)
    with wave.open(str(archive / "memo.wav"), "wb") as w:  # content with nothing to learn
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * 800)
    with monkeypatch.context() as m:  # probers of version 1: no words, records without keys
        m.setattr("mstore.catalog.add.PROBE_VERSION", 1)
        m.setattr(image_probe, "_words", lambda *_a: None)
        m.setattr(text_probe, "xmp_facts", lambda _d: None)
        assert mstore("init", "--store", s, archive).code == 0
        assert mstore("add", store=s).code == 0
    assert hits(s, "sonnenuntergang") == {} and hits(s, "niños") == {}
    assert "trip/lake.jpg" in hits(s, "lake")  # the old index answers as before
    r = mstore("add", "--verify", store=s)
    assert r.code == 0, r.err
    # the pictures, the XMP and the JSON file are recorded again, not the recording
    assert "6 assets probed again" in r.out
    assert list(hits(s, "sonnenuntergang")) == ["trip/beach.jpg"]
    assert list(hits(s, '"cafe au bord"')) == ["trip/lake.jpg"]


def test_the_files_a_sidecar_belongs_to_are_those_a_scan_finds(tmp_path: Path) -> None:
    """MetaWords.owners (asked per changed sidecar) indexes a folder once; it names the
    files a scan of the folder's names names, for sidecars there and gone."""
    import os

    from mstore.query.related import is_json_name, is_sidecar, stem_key, takeout_json_key
    from mstore.query.textmeta import MetaWords
    from mstore.store.store import Store

    archive, store = tmp_path / "archive", tmp_path / "store"
    folder = archive / "album"
    folder.mkdir(parents=True)
    shot = "Screenshot_2021-03-04-10-11-12-123_com.example"
    names = ["IMG_1.jpg", "IMG_1.JPG.xmp", "img_1.mov", "IMG_1.jpg.json", "IMG_12.jpg",
             "IMG_123.heic", "IMG_12.json", f"{shot}.app.png", f"{shot}.json", "IMG_2(1).jpg",
             "IMG_2.jpg(1).json", "notes.txt", "NOTES.xmp", ".hidden", "a.b.c.jpg", "a.xmp"]
    for i, n in enumerate(names):
        (folder / n).write_bytes(f"content {i}".encode())
    assert mstore("init", "--store", store, archive).code == 0
    assert mstore("add", store=store).code == 0
    st = Store(store)
    try:
        with st.reader() as r:
            members = r.dir_members("archive", b"album")
            words = MetaWords(r)
            asked = [n.encode() for n in names] + [b"gone.xmp", b"IMG_123.heic.json",
                                                  b"screenshot_2021.json"]
            for name in asked:
                stem = stem_key(name)
                want = {aid for n, aid in members if not is_sidecar(n) and stem_key(n) == stem}
                if is_json_name(name):
                    start = os.path.splitext(takeout_json_key(name)[0])[0]
                    want |= {aid for n, aid in members
                             if not is_json_name(n) and n.lower().startswith(start)}
                assert words.owners("archive", b"album/" + name) == want, name
    finally:
        st.close()
