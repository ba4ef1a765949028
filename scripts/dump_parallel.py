"""Convert a Discogs dump on several cores: one reader splits the XML, worker processes parse it.

`discogs_dump.convert_dump(..., workers=N)` with N > 1 lands here. The reader (the calling process)
decompresses the dump and cuts the XML byte stream into chunks of about `chunk_bytes` at record
start tags (`<release ` / `<master `); a bounded number of chunks is in flight at any time, so memory
stays flat whatever the dump's size. Each worker:

1. finds the record boundaries in its chunk (one regex pass over the bytes);
2. drops, without parsing them, the records whose raw bytes hold none of the soundtrack markers
   (`soundtrack_marker_regex`): the cheapest test first, and in a real dump ~95 % of the records
   stop here;
3. parses the remaining records as one small document (the dump's own header + the records + the
   closing root tag), and runs exactly the sequential converter's code on each element:
   `element_is_candidate`, the record builder, `is_soundtrack_candidate`, the JSON encoding.

The reader writes the workers' lines in chunk order, so the output file is byte for byte the one the
sequential converter writes, and the counters (records seen / kept / bad, bad samples with their
element index) are the same.

The byte-level marker test must never reject a record the real predicate would keep: see
`soundtrack_marker_regex` for how that holds for XML escapes, character references, CDATA and
Unicode case folding.

What the parallel path checks less than the sequential one: records dropped by the marker test are
not parsed, so a malformed record among them is not noticed (each is still checked to be closed by
its end tag, and the gzip CRC, the root element and the closing root tag are checked). Dumps whose
framing is unusual (no record in the first `HEADER_LIMIT_BYTES`, a non-UTF-8 declared encoding) go
through the sequential converter instead.
"""
from __future__ import annotations

import collections
import concurrent.futures
import functools
import multiprocessing
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from lxml import etree

DEFAULT_CHUNK_BYTES = 4 << 20
READ_BLOCK_BYTES = 1 << 20
HEADER_LIMIT_BYTES = 1 << 20
IN_FLIGHT_PER_WORKER = 2

# Words a soundtrack release can carry in its raw XML, matched case-insensitively anywhere in the
# record. This list MUST stay a superset of the vocabulary of the eligibility predicate
# (`discogs_dump.element_is_candidate` / `is_soundtrack_candidate`, and the title qualifiers of
# `scripts/soundtrack_terms.py`): every phrase the predicate accepts has to contain one of these
# (test_dump_parallel.py checks that against soundtrack_terms when the module exists). The genre
# and style names in use are added at run time from the configured lists. A word here that the
# predicate does not need only costs speed (more records parsed), never correctness.
SOUNDTRACK_MARKER_WORDS: tuple[str, ...] = (
    # English, and the words many languages borrow
    "soundtrack", "soundtrak", "score", "motion", "film", "movie",
    "cinema", "musical", "television", "inspired",
    # French, Spanish, Portuguese, Italian, Catalan ("original" is left out on purpose: it is in
    # every "Original Mix" and would send a quarter of all records to the parser; every qualifier
    # with "original" carries one of the other words: Original Soundtrack / Score / Motion Picture /
    # Cast, Bande Originale, Trilha Sonora Original, Original Film Music)
    "bande", "banda", "colonna", "sonora", "sonore", "trilha", "pel\u00edcula",
    # German, Dutch, Scandinavian, Slavic and Baltic languages (most contain "film")
    "kino", "hudba",
    # Cyrillic, Greek
    "\u0441\u0430\u0443\u043d\u0434\u0442\u0440\u0435\u043a",  # саундтрек
    "\u0444\u0438\u043b\u044c\u043c",  # фильм
    "\u043a\u0438\u043d\u043e",  # кино
    "\u03c4\u03b1\u03b9\u03bd\u03af\u03b1",  # ταινία
    # Japanese, Chinese, Korean
    "\u30b5\u30a6\u30f3\u30c9\u30c8\u30e9\u30c3\u30af",  # サウンドトラック
    "\u30b5\u30f3\u30c8\u30e9",  # サントラ
    "\u6620\u753b",  # 映画
    "\u539f\u58f0", "\u539f\u8072",  # 原声 原聲
    "\u7535\u5f71", "\u96fb\u5f71",  # 电影 電影
    "\u4e3b\u984c", "\u4e3b\u9898",  # 主題 主题
    "\uc0ac\uc6b4\ub4dc\ud2b8\ub799",  # 사운드트랙
    "\uc601\ud654",  # 영화
)
# Short words and abbreviations: matched only as whole words, or every "most", "host" and
# "broadcast" would hit. Their letters may be apart by dots and spaces ("O.S.T.", "O. S. T.",
# "B O F"), as the predicate's own pattern allows.
SOUNDTRACK_MARKER_WHOLE_WORDS: tuple[str, ...] = ("ost", "bof", "bso", "cast")
# What may stand between the letters of an abbreviation: dots and spaces, literal or as references.
_ABBREVIATION_GAP = r"(?:[. ]|&#0*(?:46|32);|&#x0*(?:2e|2E|20);){0,4}"

def _record_start_pattern(tag: str) -> re.Pattern:
    """`<release` followed by what can end a tag name, so `<releases>` and `<master_id` never match."""
    return re.compile(rb"<" + tag.encode("ascii") + rb"(?=[ \t\r\n/>])")


@functools.cache
def _case_variants(char: str) -> tuple[str, ...]:
    """Every BMP character that a case-insensitive `re` pattern treats as equal to `char`.

    Python's `re.IGNORECASE` matches more than `lower()`/`upper()` suggest ("s" also matches the
    long s, "k" the Kelvin sign), so the variants are taken from `re` itself.
    """
    probe = re.compile(re.escape(char), re.IGNORECASE)
    lowered = {char.lower(), char.upper(), char.casefold(), char.title()}
    if char.isascii() and not char.isalpha():
        return (char,)
    variants = {chr(cp) for cp in _CASED_BMP if probe.fullmatch(chr(cp))}
    variants.update(c for c in lowered if len(c) == 1 and probe.fullmatch(c))
    variants.add(char)
    return tuple(sorted(variants))


def _cased_bmp() -> tuple[int, ...]:
    # The characters that take part in case folding at all: the only candidates for a variant.
    return tuple(cp for cp in range(0x10000)
                 if not 0xD800 <= cp <= 0xDFFF and (chr(cp).lower() != chr(cp) or chr(cp).upper() != chr(cp)))


_CASED_BMP = _cased_bmp()


_RE2_SPECIAL = set("\\.^$|?*+()[]{}")


def _re2_literal(char: str) -> str:
    return "\\" + char if char in _RE2_SPECIAL else char


def _char_alternatives(char: str) -> str:
    """An RE2 pattern for one character of a marker: any case variant of it, written literally
    (UTF-8) or as a numeric character reference (decimal or hex, leading zeros allowed)."""
    options = []
    for variant in _case_variants(char):
        options.append(_re2_literal(variant))
        if variant.isalnum():  # "&#32;" for a space would be odd but is harmless; keep the regex small
            options.append(f"&#0*{ord(variant)};")
            options.append(f"&#x0*{ord(variant):x};")
    return options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"


def _marker_regex(text: str) -> str:
    return "".join(_char_alternatives(char) for char in text)


def marker_words(genres: Iterable[str], styles: Iterable[str]) -> tuple[str, ...] | None:
    """The marker words for a run: the fixed list plus the longest word of each configured genre
    and style (the predicate compares whole names, so any one of their words is a safe marker).

    None when a genre or style has no word character at all (nothing safe to look for: the caller
    then parses every record).
    """
    words = set(SOUNDTRACK_MARKER_WORDS)
    for term in (*genres, *styles):
        found = re.findall(r"\w+", term)
        if not found:
            return None
        words.add(max(found, key=len))
    return tuple(sorted(words))


@functools.lru_cache(maxsize=16)
def soundtrack_marker_regex(words: tuple[str, ...]) -> str:
    """The RE2 pattern of the pre-filter: a hit anywhere in a record's raw XML means "parse it".

    Why it never misses a record the predicate keeps: every genre, style or title qualifier the
    predicate accepts contains one of `words`; a word is made of word characters, which XML
    writes either literally (UTF-8) or as a numeric character reference (`&#252;`, `&#xFC;`), both
    matched here for every case variant Python's `re.IGNORECASE` would accept (the predefined
    entities like `&amp;` only stand for non-word characters). A CDATA section can glue a word
    together from two pieces of text, so a record with one always passes.

    RE2 (through pyarrow) reads the records as Latin-1 bytes: a non-ASCII character of the pattern
    is its UTF-8 byte sequence, and `(?i)` folds ASCII (and Latin-1) letters, which can only add hits.
    """
    parts = [_marker_regex(word) for word in words]
    parts += [r"\b" + _ABBREVIATION_GAP.join(_char_alternatives(char) for char in abbr) + r"\b"
              for abbr in SOUNDTRACK_MARKER_WHOLE_WORDS]
    parts.append(r"<!\[CDATA\[")
    return "(?i)" + "|".join(parts)


def candidate_indices(data: bytes, starts: list[int], regex: str) -> list[int]:
    """Indexes of the records (`data[starts[i]:starts[i+1]]`, the last one to the end) in which
    the RE2 pattern `regex` has a hit.

    The records are handed to RE2 as one Arrow binary array over the chunk's own buffer (no copy),
    so the whole test runs in C++ at several hundred MB/s.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not starts:
        return []
    offsets = np.array(starts + [len(data)], dtype=np.int64)
    offsets -= offsets[0]
    base = starts[0]
    records = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(starts), [None, pa.py_buffer(offsets), pa.py_buffer(memoryview(data)[base:])])
    hits = pc.match_substring_regex(records, pattern=regex)
    return np.flatnonzero(hits.to_numpy(zero_copy_only=False)).tolist()


@dataclass(frozen=True)
class ChunkJob:
    """What every worker needs besides the chunk, set once per worker by `_init_worker`.

    The record code comes in as callables (the sequential converter's own functions), so this
    module does not import `discogs_dump` and both paths run the very same code on each element.
    """

    tag: str
    header: bytes
    footer: bytes
    keep_all: bool
    markers: tuple[str, ...] | None
    build: Callable  # element -> record dict; raises bad_record_error for a record without usable id
    is_candidate: Callable | None  # element -> bool, the element-level predicate (None: keep all)
    to_line: Callable  # record dict -> JSON line bytes, or None when the record-level filter drops it
    snippet: Callable  # element -> start of its XML, for the bad-record samples
    bad_record_error: type


@dataclass
class ChunkResult:
    records_seen: int
    lines: bytes
    records_kept: int
    bad: list  # (index of the record in the chunk, reason, snippet)


class ChunkParseError(ValueError):
    """A chunk's records are not well-formed XML; the reader turns it into a DumpFormatError."""


_JOB: ChunkJob | None = None
_PARSER = None


def _init_worker(job: ChunkJob) -> None:
    global _JOB, _PARSER
    _JOB = job
    # The same options as the sequential iterparse: big text nodes, no entity expansion, no network.
    _PARSER = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)


def convert_chunk(data: bytes, job: ChunkJob | None = None, parser=None) -> ChunkResult:
    """Convert one chunk (whole records, starting at a record start tag) into JSON lines.

    Raises:
        ChunkParseError: the chunk holds text outside records or records that are not well-formed.
    """
    job = job or _JOB
    parser = parser or _PARSER
    starts = [m.start() for m in _record_start_pattern(job.tag).finditer(data)]
    count = len(starts)
    if count == 0 or data[: starts[0]].strip():
        if data.strip():
            raise ChunkParseError(f"text outside any <{job.tag}> record: {data[:80]!r}")
        return ChunkResult(0, b"", 0, [])
    ends = starts[1:] + [len(data)]
    close = b"</" + job.tag.encode("ascii") + b">"
    if job.keep_all or job.markers is None or data.count(close) != count:
        # Keep-all, or nested, self-closing or unclosed records: the parser judges every record.
        chosen = list(range(count))
    else:
        chosen = candidate_indices(data, starts, soundtrack_marker_regex(job.markers))
    if not chosen:
        return ChunkResult(count, b"", 0, [])
    body = b"".join(data[starts[i]:ends[i]] for i in chosen)
    try:
        root = etree.fromstring(job.header + body + job.footer, parser)
    except etree.XMLSyntaxError as exc:
        raise ChunkParseError(str(exc)) from exc
    elements = [child for child in root if child.tag == job.tag]
    if len(elements) != len(chosen):
        raise ChunkParseError(f"{len(chosen)} <{job.tag}> start tags but {len(elements)} top-level records")
    lines, kept, bad = [], 0, []
    for index, elem in zip(chosen, elements):
        try:
            if job.is_candidate is not None and not job.is_candidate(elem):
                continue
            record = job.build(elem)
        except job.bad_record_error as exc:
            bad.append((index, str(exc), job.snippet(elem)))
            continue
        line = job.to_line(record)
        if line is not None:
            lines.append(line)
            kept += 1
    return ChunkResult(count, b"".join(lines), kept, bad)


def _worker_convert(data: bytes) -> ChunkResult:
    return convert_chunk(data)


class FramingError(ValueError):
    """The stream is not framed as expected: the caller falls back or reports a format error."""


def split_stream(read: Callable[[int], bytes], tag: str, chunk_bytes: int) -> tuple[bytes, Iterator[bytes]]:
    """(header, chunks): the bytes before the first record, then chunks of whole records.

    The header is everything up to the first record start tag (XML declaration, DOCTYPE, root start
    tag); the closing root tag is cut off the last chunk. Raises FramingError when no record starts
    within HEADER_LIMIT_BYTES (an empty dump or an unusual file: the sequential reader handles it).
    """
    start_tag = _record_start_pattern(tag)
    buffer = b""
    while True:
        found = start_tag.search(buffer)
        if found is not None:
            break
        if len(buffer) > HEADER_LIMIT_BYTES:
            raise FramingError(f"no <{tag}> record in the first {HEADER_LIMIT_BYTES} bytes")
        block = read(READ_BLOCK_BYTES)
        if not block:
            raise FramingError(f"no <{tag}> record in the file")
        buffer += block
    header, rest = buffer[: found.start()], buffer[found.start():]
    return header, _chunks(read, rest, tag, chunk_bytes)


def _last_record_start(buffer: bytes, tag: bytes) -> int:
    """Offset of the last complete record start tag in `buffer` after offset 0, or -1."""
    needle = b"<" + tag
    end = len(buffer)
    while True:
        pos = buffer.rfind(needle, 1, end)
        if pos == -1:
            return -1
        after = pos + len(needle)
        if after < len(buffer) and buffer[after:after + 1] in (b" ", b"\t", b"\r", b"\n", b"/", b">"):
            return pos
        end = pos + len(needle) - 1


def _chunks(read: Callable[[int], bytes], buffer: bytes, tag: str, chunk_bytes: int) -> Iterator[bytes]:
    tag_bytes = tag.encode("ascii")
    pending = [buffer]
    size = len(buffer)
    while True:
        block = read(READ_BLOCK_BYTES)
        if not block:
            break
        pending.append(block)
        size += len(block)
        if size < chunk_bytes:
            continue
        joined = b"".join(pending)
        cut = _last_record_start(joined, tag_bytes)
        if cut == -1:  # one record larger than a chunk: keep reading until it ends
            pending, size = [joined], len(joined)
            continue
        yield joined[:cut]
        pending, size = [joined[cut:]], len(joined) - cut
    yield b"".join(pending)


def without_footer(chunks: Iterator[bytes], kind: str) -> Iterator[bytes]:
    """`chunks` with the closing root tag cut off the last one; FramingError when it is missing
    (a truncated file), raised only once every earlier chunk was handed on."""
    previous = None
    for chunk in chunks:
        if previous is not None:
            yield previous
        previous = chunk
    closing = re.search(rb"</" + kind.encode("ascii") + rb">[ \t\r\n]*\Z", previous or b"")
    if closing is None:
        raise FramingError(f"the XML does not end with </{kind}>: the file looks truncated")
    yield previous[: closing.start()]


def header_is_supported(header: bytes) -> str | None:
    """None when the header (declaration, root start tag) suits the parallel reader, else why not."""
    declared = re.search(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""", header)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        return f"declared encoding {declared.group(1).decode('ascii', 'replace')}"
    if header.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) and not header.startswith(b"\xef\xbb\xbf"):
        return "UTF-16 byte order mark"
    return None


def root_tag_of(header: bytes) -> str | None:
    """The name of the first start tag after the declaration, comments and DOCTYPE."""
    text = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", b"", header, flags=re.DOTALL)
    found = re.search(rb"<([A-Za-z_][\w.\-:]*)", text)
    return found.group(1).decode("utf-8", "replace") if found else None


def run_ordered(chunks: Iterator[bytes], job: ChunkJob, workers: int,
                on_result: Callable[[ChunkResult], None]) -> None:
    """Convert `chunks` on `workers` processes, calling `on_result` in chunk order.

    At most `workers * IN_FLIGHT_PER_WORKER` chunks are submitted and not yet consumed, so memory is
    bounded by that many chunks whatever the stream's length.
    """
    import pyarrow.compute  # noqa: F401  (imported once here, inherited by forked workers)

    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    limit = max(1, workers) * IN_FLIGHT_PER_WORKER
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                                initializer=_init_worker, initargs=(job,)) as pool:
        in_flight: collections.deque = collections.deque()
        try:
            for chunk in chunks:
                in_flight.append(pool.submit(_worker_convert, chunk))
                while len(in_flight) >= limit:
                    on_result(in_flight.popleft().result())
            while in_flight:
                on_result(in_flight.popleft().result())
        except BaseException:
            for future in in_flight:
                future.cancel()
            raise
