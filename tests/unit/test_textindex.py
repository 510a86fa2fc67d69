"""The full-text index on its own (store/textindex.py) and how a match finds its place
(query/textsearch.py): payloads shaped like the ocr and transcript artifacts'."""

from __future__ import annotations

from pathlib import Path

from mstore.query.textsearch import documents, search
from mstore.store.textindex import TextIndex

A, B = b"\x01" * 32, b"\x02" * 32


def block(text: str, page: int | None = None, box: list | None = None,
          start: float | None = None, end: float | None = None) -> dict:
    return {"text": text, "page": page, "box": box, "start": start, "end": end, "conf": 0.9}


def index(tmp_path: Path) -> TextIndex:
    ti = TextIndex(tmp_path / "text" / "docs.sqlite")
    with ti.update():
        ti.put_artifact("t1", A, "transcript", documents([
            block("hello and welcome", start=0.0, end=2.5),
            block("today we sail to the old harbour", start=2.5, end=6.0),
            block("bring a warm coat", start=6.0, end=8.0)]), 10)
        ti.put_artifact("o1", B, "ocr", documents([
            block("OPENING HOURS", page=1, box=[10, 10, 200, 40]),
            block("Caf\u00e9 du Port", page=1, box=[10, 50, 180, 80]),
            block("closed on Mondays", page=2, box=[5, 5, 150, 30])]), 10)
    return ti


def where(ti: TextIndex, value: str, asset: bytes) -> dict:
    m = search(ti, value)
    assert asset in m.order
    return m.detail(asset)


def test_a_transcript_match_tells_its_time(tmp_path: Path) -> None:
    ti = index(tmp_path)
    d = where(ti, "old harbour", A)
    assert (d["start"], d["end"], d["page"]) == (2.5, 6.0, None)
    assert d["snippet"][d["marks"][0][0]:d["marks"][0][1]] == "old harbour"
    assert where(ti, "coat", A)["start"] == 6.0
    # a phrase across two segments of one transcript is still a phrase
    assert search(ti, "warm coat").order == [A]
    assert search(ti, "harbour bring").order == [A]


def test_an_ocr_match_tells_its_page_and_box(tmp_path: Path) -> None:
    ti = index(tmp_path)
    d = where(ti, "cafe du port", B)
    assert (d["page"], d["box"], d["kind"], d["artifact"]) == (1, [10, 50, 180, 80], "ocr", "o1")
    assert where(ti, "mondays", B)["page"] == 2
    assert search(ti, "hours cafe").order == [B]  # lines of one page run on
    assert search(ti, "port closed").order == []  # pages do not


def test_dropped_artifacts_leave_and_stay_out_unless_made_again(tmp_path: Path) -> None:
    ti = index(tmp_path)
    port = documents([block("Caf\u00e9 du Port", page=1)])
    with ti.update():
        ti.drop_artifacts(["o1"], 20)
        ti.put_artifact("o1", B, "ocr", port, 10)  # the drop's lane read first: stays out
    assert search(ti, "port").order == []
    assert search(ti, "harbour").order == [A]
    with ti.update():
        ti.put_artifact("o1", B, "ocr", port, 30)  # made again after gc
        ti.drop_artifacts(["o1"], 20)  # an older drop read late takes nothing
    assert search(ti, "port").order == [B]


def _words_of_a_killed_update(ti: TextIndex) -> None:
    """What an update killed between its two commits leaves: tantivy committed (a new
    document, the next commit number), SQLite not."""
    import tantivy

    from mstore.store.textindex import _GEN_DOC

    w = ti.index.writer(heap_size=15_000_000, num_threads=1)
    w.add_document(tantivy.Document(doc=99, asset=b"\x03" * 32, text="lighthouse keeper"))
    w.delete_documents_by_term("doc", _GEN_DOC)
    w.add_document(tantivy.Document(doc=_GEN_DOC, gen=ti._gen() + 1))
    w.commit()
    w.wait_merging_threads()


def test_words_ahead_of_the_documents_are_rebuilt_from_them(tmp_path: Path) -> None:
    ti = index(tmp_path)
    _words_of_a_killed_update(ti)
    ti.index.reload()
    assert search(ti, "lighthouse").order == [b"\x03" * 32]  # what a search would see
    ti.close()
    ti = TextIndex(ti.path)  # the next process to open it
    assert search(ti, "lighthouse").order == []
    assert search(ti, "harbour").order == [A]
    assert where(ti, "cafe du port", B)["box"] == [10, 50, 180, 80]


def test_lost_words_are_rebuilt_from_the_documents(tmp_path: Path) -> None:
    import shutil

    ti = index(tmp_path)
    ti.close()
    shutil.rmtree(ti.words_path)
    ti = TextIndex(ti.path)
    assert search(ti, "harbour").order == [A] and search(ti, "port").order == [B]
    with ti.update():
        ti.remove_artifacts(["t1"])
    assert search(ti, "harbour").order == []


def test_a_limited_search_reads_the_best_hits_first(tmp_path: Path) -> None:
    """Lazily, in rounds that grow: the same documents in the same order as all at once."""
    from mstore.query.textsearch import search_lazily

    ti = TextIndex(tmp_path / "text" / "docs.sqlite")
    with ti.update():
        for i in range(300):
            ti.put_artifact(f"a{i}", i.to_bytes(32, "big"), "doctext", documents([
                block(" ".join(["harbour"] * (1 + i % 7) + ["boat"] * (i % 11)))]), 10)
    everything = search(ti, "harbour").order
    ids, _ = search_lazily(ti, "harbour")
    assert list(ids) == everything and len(everything) == 300
    ids, matches = search_lazily(ti, "harbour")
    assert [next(ids) for _ in range(5)] == everything[:5] == matches.order


def test_other_spellings_and_compounds_are_found_and_marked(tmp_path: Path) -> None:
    """What a transcript writes is not always what a person types: British and American
    spellings, a compound as one word or two; a split never makes short words of one."""
    ti = TextIndex(tmp_path / "text" / "docs.sqlite")
    texts = {1: "we met at the harbor at noon", 2: "the children built a sand castle",
             3: "a sandcastle contest", 4: "the colour of the sea", 5: "the rapist was caught"}
    with ti.update():
        for n, text in texts.items():
            ti.put_artifact(f"a{n}", n.to_bytes(32, "big"), "transcript",
                            documents([block(text)]), 10)

    def found(value: str) -> list[int]:
        return sorted(int.from_bytes(a, "big") for a in search(ti, value).order)

    assert found("harbour") == [1] and found("harbor") == [1]
    assert found("met at the harbour") == [1]
    assert found("sandcastle") == [2, 3] and found("sand castle") == [2, 3]
    assert found("built a sandcastle") == [2]
    assert found("color") == [4] and found("colour") == [4]
    assert found("therapist") == []  # "the rapist": parts of four letters at least
    d = where(ti, "harbour", (1).to_bytes(32, "big"))
    assert d["snippet"][d["marks"][0][0]:d["marks"][0][1]] == "harbor"
    d = where(ti, "built a sandcastle", (2).to_bytes(32, "big"))
    assert d["snippet"][d["marks"][0][0]:d["marks"][0][1]] == "built a sand castle"


def test_a_long_run_of_letters_is_split_a_bounded_number_of_times(tmp_path: Path) -> None:
    """A pasted run of letters (the UI's search box takes anything) is tried as a compound
    split in two at most MAX_ALTERNATIVES ways, not once per letter: each try analyses
    the whole run, so a 70,000-letter one took a minute per search."""
    from mstore.store.textvariants import MAX_ALTERNATIVES, alternatives

    calls = []

    def analyze(text: str) -> list[str]:
        if text.startswith("x"):  # not the spelling list's words
            calls.append(len(text))
        return [text.lower()] if text else []

    word = "x" * 70_000
    alts = alternatives((word,), False, analyze, analyze)
    assert alts[0] == [word] and len(alts) == MAX_ALTERNATIVES
    assert alts[1] == ["xxxx", "x" * 69_996]  # the shortest first part first
    assert len(calls) <= 2 * MAX_ALTERNATIVES + 1
    # and a long word is still found (tantivy keeps words of up to 65,530 bytes)
    word = "q" * 5_000
    ti = TextIndex(tmp_path / "text" / "docs.sqlite")
    with ti.update():
        ti.put_artifact("a1", (1).to_bytes(32, "big"), "doctext",
                        documents([block("sand castle " + word)]), 10)
    assert search(ti, word).order == [(1).to_bytes(32, "big")]
    assert search(ti, "sandcastle").order == [(1).to_bytes(32, "big")]


def test_opened_at_once_by_many_it_is_made_once(tmp_path: Path) -> None:
    """First searches of several processes (here threads: each open is its own file lock)
    at the same moment: one makes the files, the others open them; none takes another's
    half-made files for damage."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from mstore.store.textindex import TextIndexDamaged

    for round_ in range(6):
        path = tmp_path / f"r{round_}" / "text" / "docs.sqlite"
        start = threading.Barrier(8)

        def open_it(_: int, path: Path = path, start: threading.Barrier = start) -> int:
            start.wait()
            ti = TextIndex(path)
            try:
                return ti.document_count()
            finally:
                ti.close()

        with ThreadPoolExecutor(8) as pool:
            try:
                counts = list(pool.map(open_it, range(8)))
            except TextIndexDamaged as e:
                raise AssertionError(f"round {round_}: {e}") from None
        assert counts == [0] * 8


def test_a_hit_whose_document_went_since_has_no_detail(tmp_path: Path) -> None:
    """A hit's document removed (another process caught up) before its snippet is asked
    for: the hit is shown without one, not an error."""
    from mstore.query.terms import TermContext, TermHits
    from mstore.query.text import _Details

    ti = index(tmp_path)
    matches = search(ti, "harbour")
    with ti.update():
        ti.remove_artifacts(["t1"])
    ctx = TermContext(None)
    ctx.hits[("text", "harbour")] = TermHits({A}, order=[A], detail=_Details(matches))
    assert ctx.details(A) == {}


def test_a_phrase_ending_in_a_prefix_is_ranked_by_its_other_words(tmp_path: Path) -> None:
    ti = TextIndex(tmp_path / "text" / "docs.sqlite")
    long = "the old lighthouse keeper " + " ".join(["and then the sea"] * 30)
    with ti.update():
        ti.put_artifact("long", A, "doctext", documents([block(long)]), 10)
        ti.put_artifact("short", B, "doctext",
                        documents([block("lighthouse keepers lighthouse")]), 10)
    assert search(ti, "lighthouse kee*").order == [B, A]
    assert search(ti, "lighthouse keeper").order == [B, A]
