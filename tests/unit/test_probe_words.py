"""Titles, captions and keywords read by the probers (catalog/probe/captions.py) from
pictures Pillow writes and sidecar files written by hand."""

from __future__ import annotations

import io

from mstore.catalog.probe import probe
from mstore.model.meta import Meta
from tests.fixtures.captions import iptc_app13, picture, takeout_json, xmp


def probed(data: bytes) -> Meta:
    return probe(io.BytesIO(data), len(data), data[:65536])


def test_embedded_xmp_comes_first_and_keywords_of_every_source_are_kept_once() -> None:
    m = probed(picture(
        xmp_packet=xmp(title="Caf\u00e9 au bord de l'eau", keywords=("Gro\u00dfmutter",),
                       hierarchical=("Familie|Gro\u00dfmutter", "Orte|See")),
        app13=iptc_app13("IPTC caption", ("gro\u00dfmutter", "ni\u00f1os"), title="IPTC title"),
        exif_words={0x010E: "OLYMPUS DIGITAL CAMERA", 0x9C9E: "Ni\u00f1os;Sommer"}))
    assert m.title == "Caf\u00e9 au bord de l'eau"  # XMP's x-default, over IPTC's
    assert m.description == "IPTC caption"  # XMP has none; the camera's placeholder never
    assert m.keywords == ["Gro\u00dfmutter", "See", "ni\u00f1os", "Sommer"]
    assert m.error is None


def test_exif_text_tags_alone() -> None:
    m = probed(picture(exif_words={0x9C9B: "Windows title", 0x9C9C: "A comment \u00e0 la main"}))
    assert (m.title, m.description, m.keywords) == ("Windows title", "A comment \u00e0 la main",
                                                    None)
    plain = probed(picture(exif_words={0x010E: "SONY DSC"}))
    assert (plain.title, plain.description, plain.keywords) == (None, None, None)


def test_headline_attribute_and_a_broken_packet() -> None:
    m = probed(picture("PNG", xmp_packet=xmp(headline="Schlagzeile")))
    assert m.title == "Schlagzeile"
    bad = probed(picture(xmp_packet=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF></x:xmpmeta>'))
    assert bad.title is None and bad.error is None and bad.width == 24


def test_sidecar_files_carry_their_words() -> None:
    sc = probed(xmp(description="Ni\u00f1os en la playa", keywords=("playa",))).sidecar
    assert sc is not None and sc.format == "xmp"
    assert (sc.description, sc.keywords) == ("Ni\u00f1os en la playa", ["playa"])
    assert probed(xmp()).sidecar is None  # an XMP file with no words is no sidecar of words
    t = probed(takeout_json("IMG_1.jpg", "Picknick unter der Linde")).sidecar
    assert t is not None and (t.format, t.title, t.description) == (
        "google-takeout", "IMG_1.jpg", "Picknick unter der Linde")
    assert t.taken == "2020-09-20T10:12:07+00:00"
