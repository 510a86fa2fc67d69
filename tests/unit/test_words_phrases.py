"""Exact phrases, found by ``text:`` search in what the real tools read: screenshots and
photographed pages (ocr), PDFs with a text layer (doctext), voice memos (transcribe). The
issue's bar: >= 95% of the phrases of each source found as phrases, in the right asset.

Each source is indexed as a run would make it (the tool's payload, the documents
``textsearch.documents`` makes of it, the full-text index of ``store/textindex.py``);
every phrase is then searched and counted found when its own asset is among the hits."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mstore.query.textsearch import documents, search
from mstore.store.textindex import TextIndex, TextQuery
from mstore.tools.api import ToolInput, ToolRequest
from mstore.tools.registry import Registry
from mstore.tools.runner import run_tool
from tests.fixtures.archive import make_pdf
from tests.unit.test_words_ocr import FONTS, ocr
from tests.unit.test_words_transcribe import speak, transcribe, wer, write_wav

# four sheets of six lines, in the archive's four languages; each line is a phrase
SHEETS = [
    ["Meeting with the insurance agent", "Pay the electricity bill", "Summer holiday in Portugal",
     "Birthday dinner for grandmother", "Return the library books", "Call the plumber tomorrow"],
    ["Rechnung für die Reparatur", "Herzliche Grüße aus Köln", "Termin beim Zahnarzt",
     "Die Kinder spielen im Garten", "Bitte das Fenster schließen", "Frohe Weihnachten euch allen"],
    ["La cuenta del restaurante", "Feliz cumpleaños mi querida", "Reunión de padres mañana",
     "El tren sale a las ocho", "Vacaciones en la montaña", "Gracias por tu ayuda"],
    ["Le rendez-vous chez le médecin", "Bonne année à tous", "La facture de téléphone",
     "Les enfants jouent dans le jardin", "Réunion du conseil municipal", "Merci pour le cadeau"],
]
FACES = [("DejaVuSans.ttf", 30), ("DejaVuSerif.ttf", 28), ("DejaVuSansMono.ttf", 24),
         ("DejaVuSans-Bold.ttf", 26)]
# spoken English sentences and the phrase of each that is searched (docs/words.md: the
# first ten showed the search had to know spellings and compounds; the rest came after)
SPOKEN = [
    ("We are meeting at the harbour on Saturday morning.", "harbour on Saturday morning"),
    ("Please remember to water the tomato plants.", "water the tomato plants"),
    ("My grandmother lived in a small house near the river.", "small house near the river"),
    ("The train to the city leaves every hour.", "train to the city"),
    ("Our neighbours are painting their kitchen yellow.", "painting their kitchen yellow"),
    ("The children built a sandcastle on the beach.", "built a sandcastle"),
    ("I left my umbrella in the taxi yesterday.", "umbrella in the taxi"),
    ("The museum opens again after the summer.", "museum opens again"),
    ("We planted an apple tree in the garden.", "planted an apple tree"),
    ("The concert was cancelled because of the storm.", "cancelled because of the storm"),
    ("My brother drives an old blue van to work.", "old blue van"),
    ("The bakery on the corner sells fresh bread every morning.", "sells fresh bread"),
    ("We watched the fireworks from the hill above the town.", "watched the fireworks"),
    ("Her dog barks whenever the postman walks past.", "whenever the postman"),
    ("The hospital car park was full on Monday.", "hospital car park"),
    ("They celebrated their wedding anniversary in Venice.", "wedding anniversary in Venice"),
    ("The kettle is on, would you like a cup of tea?", "cup of tea"),
    ("Grandpa fixed the broken chair with glue and nails.", "fixed the broken chair"),
    ("Our flight to Edinburgh was delayed by two hours.", "flight to Edinburgh"),
    ("The football match ended in a draw.", "football match ended"),
]
BAR = 0.95


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.for_store(None)


def sheet(lines: list[str], face: tuple[str, int]) -> Image.Image:
    font = ImageFont.truetype(str(FONTS / face[0]), face[1])
    img = Image.new("RGB", (1000, 80 + 60 * len(lines)), "white")
    d = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        d.text((30, 40 + 60 * i), line, fill="black", font=font)
    return img


def photographed(img: Image.Image) -> Image.Image:
    """The sheet printed and photographed: beige paper, grey ink, tilted 3°, soft focus."""
    grey = img.convert("L").point(lambda v: 205 if v > 128 else 45).convert("RGB")
    return grey.rotate(3, expand=True, fillcolor=(120, 110, 100)).filter(
        ImageFilter.GaussianBlur(0.7))


def asset(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _doctext(registry: Registry, pdf: Path, out: Path) -> list[dict]:
    m = registry.get("doctext")
    out.mkdir()
    req = ToolRequest(tool="doctext", version=m.version, params=m.resolve_params({}),
                      inputs=[ToolInput(asset="d" * 64, kind="document", mime="application/pdf",
                                        path=str(pdf))], out_dir=str(out))
    (art,) = run_tool(m, req, None).artifacts
    return json.loads((out / art.file).read_text())["blocks"]


@dataclass
class Recall:
    """Per source: the phrases searched and those not found; the transcript's text."""

    phrases: dict[str, list[str]] = field(default_factory=dict)
    missed: dict[str, list[str]] = field(default_factory=dict)
    transcript: str = ""

    def share(self, source: str) -> float:
        return 1 - len(self.missed[source]) / len(self.phrases[source])


def phrase_recall(registry: Registry, work: Path) -> Recall:
    """Every source made and read by its tool into one text index under ``work``, then
    each phrase searched (also ``make bench``'s quality rows)."""
    ti = TextIndex(work / "text" / "docs.sqlite")
    owner: dict[str, dict[str, bytes]] = {"screenshot": {}, "photo": {}, "pdf": {},
                                          "speech": {}}

    def index(kind: str, n: int, blocks: list[dict]) -> None:
        with ti.update():
            ti.put_artifact(f"{kind}-{n}", asset(n), kind, documents(blocks), 1)

    n = 0
    for lines, face in zip(SHEETS, FACES, strict=True):
        img = sheet(lines, face)
        for source, picture, name in (("screenshot", img, "s.png"),
                                      ("photo", photographed(img), "p.jpg")):
            n += 1
            picture.save(work / name, quality=85)
            payload, _ = ocr(registry, work / name, work / f"ocr-{n}",
                             mime="image/png" if name.endswith("png") else "image/jpeg")
            index("ocr", n, payload["blocks"])
            owner[source].update(dict.fromkeys(lines, asset(n)))
        n += 1
        (work / f"d{n}.pdf").write_bytes(make_pdf(texts=["\n".join(lines)]))
        index("doctext", n, _doctext(registry, work / f"d{n}.pdf", work / f"doctext-{n}"))
        owner["pdf"].update(dict.fromkeys(lines, asset(n)))
    # one voice memo: the sentences with a second of silence after each
    parts, rate = [], 16000
    for i, (sentence, _) in enumerate(SPOKEN):
        samples, rate = speak(sentence, "en", work / f"v{i}.wav")
        parts += [samples, np.zeros(rate, "<i2")]
    memo = write_wav(work / "memo.wav", np.concatenate(parts), rate)
    payload, _ = transcribe(registry, ToolInput(asset="e" * 64, kind="audio",
                                                mime="audio/x-wav", path=str(memo)),
                            work / "speech", language="en")
    n += 1
    index("transcript", n, payload["blocks"])
    owner["speech"] = {phrase: asset(n) for _, phrase in SPOKEN}
    out = Recall(transcript=" ".join(b["text"] for b in payload["blocks"]))
    for source, phrases in owner.items():
        out.phrases[source] = list(phrases)
        out.missed[source] = [p for p, a in phrases.items() if a not in search(ti, p).order]
    ti.close()
    return out


def test_exact_phrases_are_found_in_what_the_tools_read(registry: Registry,
                                                        tmp_path: Path) -> None:
    recall = phrase_recall(registry, tmp_path)
    for source in ("screenshot", "photo", "pdf"):
        assert recall.share(source) >= BAR, (source, recall.missed[source])
    # what Whisper wrote is found: a phrase is missed only where the transcript holds
    # other words (a mishearing; spellings and compounds are alternatives of the search),
    # a figure `make bench` reports
    said = TextQuery.parse(recall.transcript).terms()
    for phrase in recall.missed["speech"]:
        for want in TextQuery.parse(phrase).alternatives():
            assert not any(said[i:i + len(want)] == want for i in range(len(said))), phrase
    # and the transcript is as good as the issue asks of clear English speech
    assert wer(recall.transcript, " ".join(s for s, _ in SPOKEN)) <= 0.25, recall.transcript
