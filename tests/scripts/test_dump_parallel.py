"""Tests for scripts.dump_parallel: the parallel converter gives the sequential one's bytes and counters,
and its byte-level pre-filter never rejects a record the element-level predicate keeps."""
from __future__ import annotations

import collections
import gzip
import importlib
import importlib.util
import re
import shutil
from pathlib import Path

import pytest
from lxml import etree

from scripts import dump_parallel as dp
from scripts.discogs_dump import DumpFormatError, DumpStats, convert_dump, element_is_candidate
from scripts.settings import DEFAULT_SOUNDTRACK_GENRES, DEFAULT_SOUNDTRACK_STYLES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DUMPS = PROJECT_ROOT.parent / "shared" / "data" / "discogs_dump_xml"
REAL_DUMPS = [
    (DUMPS / "discogs_20200806_releases.xml.gz", "releases"),
    (DUMPS / "discogs_20200806_masters.xml.gz", "masters"),
    (DUMPS / "tgmz_2025" / "discogs_releases.xml.gz", "releases"),
    (DUMPS / "tgmz_2025" / "discogs_masters.xml.gz", "masters"),
]
NO_SAMPLES = f"real Discogs dump samples not found at {DUMPS} (../shared/data beside the project)"
SMALL_CHUNK = 1000  # bytes: every test file is cut into many chunks, most of one record each


def _convert_both(src: Path, tmp_path: Path, **kwargs) -> tuple[bytes, dict, bytes, dict]:
    one, many = DumpStats(), DumpStats()
    convert_dump(src, tmp_path / "one.jsonl.gz", stats=one, **kwargs)
    convert_dump(src, tmp_path / "many.jsonl.gz", stats=many, workers=2, chunk_bytes=SMALL_CHUNK, **kwargs)
    views = []
    for stats in (one, many):
        view = stats.as_dict()
        view.pop("seconds")
        views.append(view)
    return ((tmp_path / "one.jsonl.gz").read_bytes(), views[0], (tmp_path / "many.jsonl.gz").read_bytes(), views[1])


def _write(path: Path, xml: str, gz: bool = False) -> Path:
    data = xml.encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def _release(release_id, body: str = "") -> str:
    return f'<release id="{release_id}" status="Accepted"><title>T{release_id}</title>{body}</release>\n'


def _stream(records: list[str], root: str = "releases") -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>\n' + "".join(records) + f"</{root}>\n"


# Same bytes, same counters --------------------------------------------------------------------


@pytest.mark.skipif(not DUMPS.is_dir(), reason=NO_SAMPLES)
@pytest.mark.parametrize("keep_all", [False, True])
@pytest.mark.parametrize("path,kind", REAL_DUMPS, ids=lambda v: getattr(v, "name", v))
def test_parallel_output_is_byte_identical_on_real_samples(tmp_path, path, kind, keep_all):
    plain = tmp_path / path.name.replace(".gz", "")
    with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)  # plain XML: large enough to be split even for the 4-record file
    one, one_stats, many, many_stats = _convert_both(plain, tmp_path, kind=kind, keep_all=keep_all)
    assert many == one and len(one) > 0
    assert many_stats == one_stats
    assert one_stats["records_seen"] > 0


@pytest.mark.parametrize("keep_all", [False, True])
def test_parallel_output_is_byte_identical_on_generated_data(tmp_path, keep_all):
    from scripts.generate_sample_data import RELEASES_FILE, generate

    generate(tmp_path / "raw", films=60, seed=5, overwrite=True)
    one, one_stats, many, many_stats = _convert_both(tmp_path / "raw" / RELEASES_FILE, tmp_path, kind="releases",
                                                     keep_all=keep_all)
    assert many == one
    assert many_stats == one_stats
    assert one_stats["records_kept"] > 0


def test_parallel_counts_bad_ids_with_their_element_index_and_keeps_unicode(tmp_path):
    records = [_release(i) for i in range(1, 40)]
    records[7] = '<release status="Accepted"><genres><genre>Stage &amp; Screen</genre></genres></release>\n'
    records[30] = ('<release id="x" status="Accepted"><title>Die Bl\u00fcten \u2013 \u30b5\u30f3\u30c8\u30e9</title>'
                   '<styles><style>Soundtrack</style></styles></release>\n')
    records[31] = ('<release id="31"><title>Die Bl\u00fcten \u2013 \u30b5\u30f3\u30c8\u30e9</title>'
                   '<styles><style>Soundtrack</style></styles></release>\n')
    src = _write(tmp_path / "x_releases.xml.gz", _stream(records), gz=True)
    one, one_stats, many, many_stats = _convert_both(src, tmp_path)
    assert many == one and many_stats == one_stats
    assert [(s["element_index"], s["reason"]) for s in many_stats["bad_samples"]] == [
        (7, "missing id attribute"), (30, "id 'x' is not a positive whole number")]
    assert "Bl\u00fcten" in gzip.decompress(many).decode("utf-8")
    assert many_stats["records_seen"] == 39 and many_stats["records_kept"] == 1


def test_empty_dump_falls_back_to_the_sequential_reader(tmp_path):
    src = _write(tmp_path / "e_releases.xml", '<?xml version="1.0"?>\n<releases>\n' + " " * 5000 + "</releases>\n")
    one, one_stats, many, many_stats = _convert_both(src, tmp_path)
    assert many == one and many_stats == one_stats and many_stats["records_seen"] == 0


# Bad input: clear errors, never a partial file ----------------------------------------------------


@pytest.mark.parametrize("name,text,message", [
    ("cut_releases.xml", _stream([_release(i) for i in range(1, 50)])[:-40], "truncated"),
    ("broken_soundtrack_releases.xml", _stream([_release(i) for i in range(1, 50)]).replace(
        "<title>T20</title>", "<title>Soundtrack</titel>"), "not well-formed"),
    ("masters.xml", _stream([_release(i) for i in range(1, 50)]), "expected <releases>"),
])
def test_bad_dumps_raise_a_format_error_and_leave_no_output(tmp_path, name, text, message):
    if name == "masters.xml":  # a releases dump under a masters name: root check
        text = text.replace("<releases>", "<masters>").replace("</releases>", "</masters>")
    src = _write(tmp_path / name, text)
    dest = tmp_path / "out" / "x.jsonl.gz"
    with pytest.raises(DumpFormatError, match=message):
        convert_dump(src, dest, kind="releases", workers=2, chunk_bytes=200)
    assert not dest.exists() and not list(dest.parent.glob("*.part"))


def test_a_broken_record_the_prefilter_drops_is_counted_as_filtered_out(tmp_path):
    """The documented limit of the parallel path: records without any soundtrack marker are never
    parsed, so one that is not well-formed is counted as seen and filtered out (the sequential path
    stops on it); an unclosed one still goes to the parser and fails."""
    records = [_release(i) for i in range(1, 50)]
    records[20] = records[20].replace("</title>", "</titel>")
    records[30] = _release(31, "<styles><style>Score</style></styles>")
    src = _write(tmp_path / "b_releases.xml", _stream(records))
    stats = convert_dump(src, tmp_path / "x.jsonl", workers=2, chunk_bytes=200)
    assert (stats.records_seen, stats.records_kept, stats.records_bad) == (49, 1, 0)
    records[20] = records[20].replace("</release>", "")
    src = _write(tmp_path / "b_releases.xml", _stream(records))
    with pytest.raises(DumpFormatError, match="not well-formed"):
        convert_dump(src, tmp_path / "x.jsonl", workers=2, chunk_bytes=200)


def test_truncated_gzip_raises_a_format_error(tmp_path):
    data = gzip.compress(_stream([_release(i) for i in range(1, 3000)]).encode("ascii"), mtime=0)
    src = tmp_path / "t_releases.xml.gz"
    src.write_bytes(data[: len(data) // 2])
    with pytest.raises(DumpFormatError, match="truncated or corrupt"):
        convert_dump(src, tmp_path / "x.jsonl", workers=2, chunk_bytes=2000)


# Bounded memory ----------------------------------------------------------------------------------


def test_run_ordered_keeps_at_most_a_bounded_number_of_chunks_in_flight_and_their_order():
    pulled, seen = [], []
    limit = 2 * dp.IN_FLIGHT_PER_WORKER

    def chunks():
        for number in range(1, 41):
            pulled.append(number)
            yield "".join(_release(number * 100 + k) for k in range(3)).encode("ascii")

    job = dp.ChunkJob(tag="release", header=b"<releases>", footer=b"</releases>", keep_all=True, markers=None,
                      build=lambda elem: {"id": int(elem.get("id"))}, is_candidate=None,
                      to_line=lambda record: f"{record['id']}\n".encode("ascii"), snippet=str,
                      bad_record_error=ValueError)

    def on_result(result):
        seen.append(result.lines)
        assert len(pulled) - len(seen) < limit

    dp.run_ordered(chunks(), job, 2, on_result)
    assert seen == ["".join(f"{n * 100 + k}\n" for k in range(3)).encode("ascii") for n in range(1, 41)]


def test_split_stream_cuts_only_at_record_starts():
    text = _stream([_release(i, "<master_id>3</master_id>") for i in range(1, 200)]).encode("ascii")
    position = 0

    def read(size):
        nonlocal position
        block = text[position:position + 7]  # odd block size: start tags straddle the blocks
        position += len(block)
        return block

    header, chunks = dp.split_stream(read, "release", 300)
    chunks = list(dp.without_footer(chunks, "releases"))
    assert header == b'<?xml version="1.0" encoding="UTF-8"?>\n<releases>\n'
    assert header + b"".join(chunks) + b"</releases>\n" == text
    assert len(chunks) > 10 and all(chunk.startswith(b"<release ") for chunk in chunks)
    assert all(len(chunk) < 300 + 2 * len(_release(199, "<master_id>3</master_id>")) for chunk in chunks)


# The pre-filter is at least as permissive as the predicate ----------------------------------------


def _records(path: Path, tag: str):
    """(raw bytes of each top-level record, its element) of a dump file."""
    with gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb") as handle:
        data = handle.read()
    starts = [m.start() for m in dp._record_start_pattern(tag).finditer(data)]
    ends = starts[1:] + [data.rindex(b"</")]
    root = etree.fromstring(data, etree.XMLParser(huge_tree=True, resolve_entities=False))
    elements = [child for child in root if child.tag == tag]
    assert len(elements) == len(starts)
    return [(data[s:e], elem) for s, e, elem in zip(starts, ends, elements)]


def _passing(raws: list[bytes], genres, styles) -> list[bool]:
    """Which of the records the pre-filter passes (one call, as a worker makes it for a chunk)."""
    regex = dp.soundtrack_marker_regex(dp.marker_words(genres, styles))
    starts = [0]
    for raw in raws[:-1]:
        starts.append(starts[-1] + len(raw))
    hits = set(dp.candidate_indices(b"".join(raws), starts, regex))
    return [index in hits for index in range(len(raws))]


def _passes(raw: bytes, genres, styles) -> bool:
    return _passing([raw], genres, styles)[0]


@pytest.mark.skipif(not DUMPS.is_dir(), reason=NO_SAMPLES)
def test_prefilter_passes_every_record_the_predicate_keeps_on_real_samples():
    records = [(raw, elem) for path, kind in REAL_DUMPS for raw, elem in _records(path, kind[:-1])]
    # Every genre and style that occurs, so nearly every record is some candidate: the derived
    # words are tested, not only the defaults.
    all_genres = sorted({g.text for _, e in records for g in e.iterfind("genres/genre") if g.text})
    # The 40 commonest styles: every style would make an RE2 pattern that takes seconds to compile.
    style_counts = collections.Counter(s.text for _, e in records for s in e.iterfind("styles/style") if s.text)
    all_styles = sorted(style for style, _ in style_counts.most_common(40))
    for genres, styles in ((DEFAULT_SOUNDTRACK_GENRES, DEFAULT_SOUNDTRACK_STYLES), (all_genres, all_styles)):
        kept = [raw for raw, elem in records if element_is_candidate(elem, frozenset(genres), frozenset(styles))]
        assert kept, "the samples hold soundtracks"
        missed = [raw[:120] for raw, ok in zip(kept, _passing(kept, genres, styles)) if not ok]
        assert missed == []
    # And it is a filter: most records of a real dump never reach the parser.
    passed = sum(_passing([raw for raw, _ in records], DEFAULT_SOUNDTRACK_GENRES, DEFAULT_SOUNDTRACK_STYLES))
    assert passed < 0.25 * len(records)


def test_prefilter_passes_every_candidate_of_generated_data(tmp_path):
    from scripts.generate_sample_data import RELEASES_FILE, generate

    generate(tmp_path, films=60, seed=3, bad_records=0, overwrite=True)
    records = _records(tmp_path / RELEASES_FILE, "release")
    kept = [raw for raw, elem in records if element_is_candidate(
        elem, frozenset(DEFAULT_SOUNDTRACK_GENRES), frozenset(DEFAULT_SOUNDTRACK_STYLES))]
    assert kept and all(_passing(kept, DEFAULT_SOUNDTRACK_GENRES, DEFAULT_SOUNDTRACK_STYLES))


@pytest.mark.parametrize("body", [
    "<genres><genre>Stage &amp; Screen</genre></genres>",
    "<genres><genre>Stage &#38; Scr&#101;en</genre></genres>",  # character references
    "<genres><genre>Stage &#x26; &#x53;&#x63;&#x72;&#x65;&#x65;&#x6E;</genre></genres>",
    "<genres><genre>Stage &amp; Scr&#x0065;en</genre></genres>",  # leading zeros
    "<styles><style>Sound<![CDATA[tr]]>ack</style></styles>",  # CDATA glues the word together
    "<styles><style>Sc&#x2C6;</style><style>Score</style></styles>",
    "<styles><style>Musical</style></styles>",
    "<title>Pel\u00edcula</title>",
    "<title>PEL&#205;CULA</title>",  # uppercase I-acute as a reference
    "<title>\u0421\u0410\u0423\u041d\u0414\u0422\u0420\u0415\u041a</title>",  # uppercase Cyrillic
    "<title>\u0421\u0430\u0443\u043d\u0434\u0422\u0440\u0435\u043a</title>",  # mixed case
    "<title>\u017foundtrack</title>",  # long s: re.IGNORECASE matches it to "s"
    "<title>Star Wars (OST)</title>",
    "<title>O.S.T.</title>",
    "<title>Hair (Original Broadway Cast Recording)</title>",
    "<title>\u6620\u753b\u300c\u5343\u3068\u5343\u5c0b\u300d\u30b5\u30a6\u30f3\u30c9\u30c8\u30e9\u30c3\u30af</title>",
])
def test_prefilter_passes_escaped_and_unicode_spellings(body):
    assert _passes(_release(1, body).encode("utf-8"), DEFAULT_SOUNDTRACK_GENRES, DEFAULT_SOUNDTRACK_STYLES)


@pytest.mark.parametrize("body", [
    "<genres><genre>Rock</genre></genres><styles><style>Punk</style></styles>",
    "<title>Most Hosts Broadcast</title>",  # "ost" and "cast" only as parts of words
    "<title>Original Mix</title>",
    "",
])
def test_prefilter_rejects_plain_records(body):
    assert not _passes(_release(1, body).encode("utf-8"), DEFAULT_SOUNDTRACK_GENRES, DEFAULT_SOUNDTRACK_STYLES)


def test_a_genre_without_word_characters_disables_the_prefilter():
    assert dp.marker_words(["Stage & Screen", "--"], []) is None
    assert "Jazz" in dp.marker_words(["Jazz"], ["Free Improvisation"])
    assert "Improvisation" in dp.marker_words(["Jazz"], ["Free Improvisation"])


# The title qualifiers of the matching predicate (scripts/soundtrack_terms.py, added in parallel) --

QUALIFIER_PHRASES = (
    "Original Motion Picture Soundtrack", "Music From The Motion Picture", "Original Soundtrack",
    "Original Score", "Music from the Film", "Bande Originale du Film", "Bande Originale", "Banda Sonora Original",
    "Banda Sonora", "Colonna Sonora Originale", "Trilha Sonora Original", "OST", "O.S.T.", "Soundtrack",
    "Filmmusik", "Original Film Music", "Musique du film", "Musiche dal film", "Muzyka filmowa",
    "Original Cast Recording", "B.O.F.", "BSO",
    "\u30aa\u30ea\u30b8\u30ca\u30eb\u30fb\u30b5\u30a6\u30f3\u30c9\u30c8\u30e9\u30c3\u30af",
    "\u30b5\u30f3\u30c8\u30e9", "\u6620\u753b\u97f3\u697d", "\u7535\u5f71\u539f\u58f0\u5e26", "\u96fb\u5f71\u539f\u8072\u5e36",
    "\uc601\ud654 \uc74c\uc545", "\uc0ac\uc6b4\ub4dc\ud2b8\ub799", "\u0421\u0430\u0443\u043d\u0434\u0442\u0440\u0435\u043a",
    "\u041c\u0443\u0437\u044b\u043a\u0430 \u0438\u0437 \u0444\u0438\u043b\u044c\u043c\u0430",
    "Original TV Soundtrack", "Music From The Motion Picture Score", "Original Music From The Film",
    "Theme From Shaft", "Music From The Television Series", "Original Television Soundtrack", "Songs From The Film",
    "Music Inspired By The Film", "Original Broadway Cast", "Musique Originale du Film", "M\u00fasica de la Pel\u00edcula",
    "Filmzene", "Muzyka z filmu", "Hudba z filmu", "Video Game Soundtrack", "Original Game Score",
    # Qualifiers without a film word: the parallel converter dropped these albums unparsed (2,396
    # true soundtracks of a 1,000,000-film world written elsewhere never reached silver).
    "Music From And Inspired By", "Songs Inspired By", "Music Inspired By", "Songs From And Inspired By",
    "O. S. T.", "O S T", "B. O. F.", "B O F", "B. S. O.", "B.S.O", "OST.",
)


def _soundtrack_terms():
    if importlib.util.find_spec("scripts.soundtrack_terms") is None:
        pytest.skip("scripts/soundtrack_terms.py not there yet (added by the matching change)")
    return importlib.import_module("scripts.soundtrack_terms")


def test_prefilter_passes_every_title_the_soundtrack_terms_accept():
    """The superset property against the predicate's own vocabulary: every phrase of ours and every
    string constant of soundtrack_terms that one of its regexes accepts must pass the pre-filter, in
    any case and XML-escaped."""
    terms = _soundtrack_terms()
    patterns = [value for value in vars(terms).values() if isinstance(value, re.Pattern)]
    assert patterns, "soundtrack_terms exposes no compiled regex to check against"
    phrases = set(QUALIFIER_PHRASES)
    for value in vars(terms).values():
        if isinstance(value, str):
            phrases.add(value)
        elif isinstance(value, (tuple, list, frozenset, set)):
            phrases.update(item for item in value if isinstance(item, str))
    accepted = sorted(p for p in phrases if any(pattern.search(p) for pattern in patterns))
    assert accepted, "none of the qualifier phrases is accepted: is this the right module?"
    missed = []
    for phrase in accepted:
        for spelling in (phrase, phrase.upper(), phrase.lower(), phrase.title()):
            if not any(pattern.search(spelling) for pattern in patterns):
                continue
            escaped = spelling.replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;")
            raw = _release(1, f"<title>{escaped}</title><genres><genre>Rock</genre></genres>").encode("utf-8")
            if not _passes(raw, DEFAULT_SOUNDTRACK_GENRES, DEFAULT_SOUNDTRACK_STYLES):
                missed.append(spelling)
    assert missed == [], "add a word of each to SOUNDTRACK_MARKER_WORDS in scripts/dump_parallel.py"


# Configuration ------------------------------------------------------------------------------------


def test_dump_workers_setting_defaults_to_the_cores_and_is_validated(tmp_path):
    import os

    from scripts.settings import ConfigError, load_settings

    no_dotenv = tmp_path / "absent.env"
    assert load_settings({}, dotenv_path=no_dotenv).dump_workers == (os.cpu_count() or 1)
    assert load_settings({"DUMP_WORKERS": "3"}, dotenv_path=no_dotenv).dump_workers == 3
    for bad in ("0", "two", "-1"):
        with pytest.raises(ConfigError, match="DUMP_WORKERS"):
            load_settings({"DUMP_WORKERS": bad}, dotenv_path=no_dotenv)


def test_cli_workers_option(tmp_path):
    from scripts.discogs_dump import EXIT_OK, EXIT_USAGE, main

    records = [_release(i, "<styles><style>Score</style></styles>" if i % 7 == 0 else "") for i in range(1, 400)]
    src = _write(tmp_path / "c_releases.xml", _stream(records))
    assert main([str(src), "--out", str(tmp_path / "one"), "--no-verify", "--workers", "1"]) == EXIT_OK
    assert main([str(src), "--out", str(tmp_path / "two"), "--no-verify", "--workers", "2"]) == EXIT_OK
    one = (tmp_path / "one" / "c_releases.jsonl.gz").read_bytes()
    assert one == (tmp_path / "two" / "c_releases.jsonl.gz").read_bytes()
    assert len(gzip.decompress(one).splitlines()) == 57
    assert main([str(src), "--out", str(tmp_path / "bad"), "--workers", "0"]) == EXIT_USAGE


def test_a_latin1_dump_falls_back_to_the_sequential_reader_with_the_same_result(tmp_path):
    records = [_release(i, "<styles><style>Score</style></styles>" if i % 5 == 0 else "<notes>caf\u00e9</notes>")
               for i in range(1, 300)]
    text = _stream(records).replace("UTF-8", "ISO-8859-1")
    src = tmp_path / "l_releases.xml"
    src.write_bytes(text.encode("latin-1"))
    assert dp.header_is_supported(text[:60].encode("latin-1")) == "declared encoding ISO-8859-1"
    one, one_stats, many, many_stats = _convert_both(src, tmp_path)
    assert many == one and many_stats == one_stats and many_stats["records_kept"] == 59
