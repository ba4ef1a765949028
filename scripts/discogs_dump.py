"""Stream Discogs monthly data-dump XML into JSON lines of the API record shape.

Discogs publishes `discogs_YYYYMMDD_{masters,releases}.xml.gz` (several GB each) beside a
`discogs_YYYYMMDD_CHECKSUM.txt`. Spark cannot read that XML directly, so this driver-side tool turns
each `<master>` / `<release>` element into the dict of docs/contracts.md ("Discogs record shape") and
writes one JSON object a line. Memory stays flat: records are parsed one at a time with
`lxml.etree.iterparse` and cleared as soon as they are turned into a dict.

Both dump generations are read: the 2020 files (images block, every artist field written even when
empty) and the 2025 files (no images, empty fields left out, `<master_id>0</master_id>` for a release
without master, `status` sometimes missing, extra artists without an id). Absent values come out as
`""`, `0`, `None` or `[]` exactly as the contract says, so both generations yield the same shape.

`convert_dump(..., workers=N)` spreads the parsing over N processes (`scripts.dump_parallel`: a
reader splits the XML at record tags, workers drop records without any soundtrack marker in their raw
bytes and parse the rest); the output and the counters are the same as with one. Step 02 passes
`DUMP_WORKERS`; figures in docs/performance.md.

Command line::

    python -m scripts.discogs_dump SRC [SRC ...] --out DIR [--keep-all] [--no-verify] [--workers N]

Exit codes: 0 all files converted, 1 a data error (checksum mismatch, truncated or corrupt file,
not a masters/releases dump), 2 a usage error (bad arguments, missing input file).
"""
from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from lxml import etree

from scripts import dump_parallel as dp
from scripts import soundtrack_terms
from scripts.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from scripts.settings import DEFAULT_SOUNDTRACK_GENRES, DEFAULT_SOUNDTRACK_STYLES

logger = logging.getLogger(__name__)

KINDS = ("masters", "releases")
RECORD_TAG = {"masters": "master", "releases": "release"}
MAX_BAD_SAMPLES = 100
SNIPPET_CHARS = 300
HASH_CHUNK_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"

EXIT_DATA_ERROR = EXIT_FAILED  # the dump cannot be read


class DumpFormatError(ValueError):
    """A dump file cannot be read as Discogs XML; the message names the file and what to do."""


class ChecksumMismatchError(ValueError):
    """A dump file's sha256 differs from the one its CHECKSUM file publishes."""


class _BadRecordError(ValueError):
    """Raised inside the record builders; the reason ends up in `DumpStats.bad_samples`."""


@dataclass
class DumpStats:
    """Counters of one or more conversions, safe to log or dump as JSON (`as_dict`).

    `records_seen` = `records_kept` + `records_bad` + records left out by the soundtrack filter.
    `bad_samples` holds at most `max_bad_samples` dicts with keys `file`, `element_index` (0-based
    position of the record element in its file), `reason` and `snippet` (start of the record XML).
    `seconds` is wall time from opening each file to its last record, including the caller's work
    between records (for `convert_dump`: filtering and writing).
    """

    files: list[str] = field(default_factory=list)
    records_seen: int = 0
    records_kept: int = 0
    records_bad: int = 0
    bad_samples: list[dict] = field(default_factory=list)
    bytes_read_uncompressed: int = 0
    seconds: float = 0.0
    max_bad_samples: int = MAX_BAD_SAMPLES

    @property
    def records_filtered_out(self) -> int:
        return self.records_seen - self.records_kept - self.records_bad

    def add_bad(self, file: str, element_index: int, reason: str, snippet: str) -> None:
        self.records_bad += 1
        if len(self.bad_samples) < self.max_bad_samples:
            self.bad_samples.append(
                {"file": file, "element_index": element_index, "reason": reason, "snippet": snippet}
            )

    def as_dict(self) -> dict:
        view = asdict(self)
        view["records_filtered_out"] = self.records_filtered_out
        return view


class _CountingReader:
    """File-like wrapper that counts the (uncompressed) bytes handed to the parser."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.bytes_read += len(data)
        return data


def _open_maybe_gzip(path: Path) -> IO[bytes]:
    """Open `path` for binary reading, decompressing when it starts with the gzip magic bytes."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == GZIP_MAGIC else path.open("rb")


def _format_error(path: Path, exc: BaseException) -> DumpFormatError:
    return DumpFormatError(
        f"{path}: looks truncated or corrupt ({type(exc).__name__}: {exc}); "
        "re-download it and verify it against the CHECKSUM file"
    )


# What a cut-off download or a damaged file raises while being read and parsed.
_READ_ERRORS = (etree.XMLSyntaxError, EOFError, zlib.error, gzip.BadGzipFile)


def _kind_from_name(name: str) -> str | None:
    hits = [kind for kind in KINDS if kind in name.lower()]
    return hits[0] if len(hits) == 1 else None


def _root_tag(path: Path) -> str:
    try:
        with _open_maybe_gzip(path) as raw:
            # Stops at the first start tag, so only the first block of the file is read.
            _event, root = next(iter(etree.iterparse(raw, events=("start",), huge_tree=True,
                                                     resolve_entities=False, no_network=True)))
    except _READ_ERRORS as exc:
        raise _format_error(path, exc) from exc
    return root.tag


def detect_kind(path: Path) -> str:
    """Tell whether `path` is a masters or a releases dump.

    The file name decides when it contains exactly one of "masters" / "releases"; otherwise the
    root element is read (only the first bytes of the file).

    Raises:
        DumpFormatError: the file is neither (e.g. an artists or labels dump) or is unreadable.
    """
    path = Path(path)
    kind = _kind_from_name(path.name)
    if kind:
        return kind
    root = _root_tag(path)
    if root in KINDS:
        return root
    raise DumpFormatError(
        f"{path}: root element <{root}> is neither <masters> nor <releases>; "
        "only Discogs masters and releases dumps can be converted"
    )


_NO_CHILDREN: tuple = ()


def _first_children(elem: etree._Element) -> dict:
    """The first child of each tag, in one pass over the children.

    A release has hundreds of tracklist, video and company children; one pass with dict look-ups
    afterwards is much cheaper than a `find` per field, and the skipped sections are never walked.
    """
    first: dict = {}
    for child in elem:
        first.setdefault(child.tag, child)
    return first


def _text(children: dict, tag: str) -> str:
    child = children.get(tag)
    return (child.text or "") if child is not None else ""


def _items(children: dict, tag: str) -> Iterable[etree._Element]:
    """The children of the container element `tag` (e.g. the <artist>s of <artists>), or none."""
    container = children.get(tag)
    return container if container is not None else _NO_CHILDREN


def _positive_int(value: str | None) -> int | None:
    """`int(value)` when it is a whole number above 0 (Discogs writes 0 for "none"), else None."""
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number > 0 else None


def _record_id(elem: etree._Element) -> int:
    raw = elem.get("id")
    if raw is None or not raw.strip():
        raise _BadRecordError("missing id attribute")
    record_id = _positive_int(raw)
    if record_id is None:
        raise _BadRecordError(f"id {raw!r} is not a positive whole number")
    return record_id


def _year(value: str | None) -> int:
    """The year as an int from "2009", "2009-05-05" or "1999-03-00"; 0 when unknown."""
    head = (value or "").strip()[:4]
    return int(head) if len(head) == 4 and head.isascii() and head.isdigit() else 0


def _texts(children: dict, container: str, tag: str) -> list[str]:
    return [item.text for item in _items(children, container) if item.tag == tag and item.text]


def _artists(children: dict, container: str) -> list[dict]:
    artists = []
    for item in _items(children, container):
        if item.tag != "artist":
            continue
        fields = _first_children(item)
        artists.append({
            "id": _positive_int(_text(fields, "id")),
            "name": _text(fields, "name"),
            "anv": _text(fields, "anv"),
            "join": _text(fields, "join"),
            "role": _text(fields, "role"),
        })
    return artists


def _formats(children: dict) -> list[dict]:
    return [
        {
            "name": fmt.get("name", ""),
            "qty": fmt.get("qty", ""),
            "text": fmt.get("text", ""),
            "descriptions": _texts(_first_children(fmt), "descriptions", "description"),
        }
        for fmt in _items(children, "formats")
        if fmt.tag == "format"
    ]


def _labels(children: dict) -> list[dict]:
    return [
        {"id": _positive_int(label.get("id")), "name": label.get("name", ""), "catno": label.get("catno", "")}
        for label in _items(children, "labels")
        if label.tag == "label"
    ]


def master_record(elem: etree._Element) -> dict:
    """Turn one `<master>` element into the contract's master dict.

    Raises:
        _BadRecordError: the element has no usable id.
    """
    record_id = _record_id(elem)
    children = _first_children(elem)
    return {
        "id": record_id,
        "title": _text(children, "title"),
        "year": _year(_text(children, "year")),
        "main_release": _positive_int(_text(children, "main_release")),
        "artists": _artists(children, "artists"),
        "genres": _texts(children, "genres", "genre"),
        "styles": _texts(children, "styles", "style"),
        "data_quality": _text(children, "data_quality"),
    }


def release_record(elem: etree._Element) -> dict:
    """Turn one `<release>` element into the contract's release dict.

    `master_id` is None when there is no `<master_id>` (2020) or it is 0 (2025); `is_main_release`
    is then None too, so both dump generations give the same answer for a release without master.

    Raises:
        _BadRecordError: the element has no usable id.
    """
    record_id = _record_id(elem)
    children = _first_children(elem)
    released = _text(children, "released")
    master = children.get("master_id")
    master_id = _positive_int(master.text) if master is not None else None
    is_main = master.get("is_main_release", "") if master_id is not None else ""
    return {
        "id": record_id,
        "status": elem.get("status", ""),
        "title": _text(children, "title"),
        "year": _year(released),
        "released": released,
        "country": _text(children, "country"),
        "master_id": master_id,
        "is_main_release": {"true": True, "false": False}.get(is_main.strip().lower()),
        "artists": _artists(children, "artists"),
        "extraartists": _artists(children, "extraartists"),
        "genres": _texts(children, "genres", "genre"),
        "styles": _texts(children, "styles", "style"),
        "formats": _formats(children),
        "labels": _labels(children),
        "data_quality": _text(children, "data_quality"),
    }


_BUILDERS: dict[str, Callable[[etree._Element], dict]] = {"masters": master_record, "releases": release_record}


def _snippet(elem: etree._Element) -> str:
    xml = etree.tostring(elem, encoding="unicode", with_tail=False)
    return xml[:SNIPPET_CHARS]


def element_is_candidate(elem: etree._Element, genres: frozenset, styles: frozenset) -> bool:
    """`is_soundtrack_candidate` on the XML element itself, before any dict is built.

    In a real monthly dump only a few percent of the records are soundtracks: deciding on the
    element lets the parser skip building the other 97 % of the dicts.
    """
    for container, wanted in (("genres", genres), ("styles", styles)):
        found = elem.find(container)
        if found is not None and any(child.text in wanted for child in found):
            return True
    return soundtrack_terms.title_says_soundtrack(elem.findtext("title"))


def iter_records(path: Path, kind: str | None = None, stats: DumpStats | None = None,
                 prefilter: Callable[[etree._Element], bool] | None = None) -> Iterator[dict]:
    """Yield the contract dict of every record in a masters or releases dump, in file order.

    Args:
        path: a dump file, gzip-compressed or plain XML (told apart by its first bytes).
        kind: "masters" or "releases"; detected with `detect_kind` when None.
        stats: counters to update (records seen, bad records with samples, bytes read, time).
            Records without a usable id are never yielded: they are counted and sampled here, and
            logged as a warning when no `stats` is given.
        prefilter: when given, a record whose element it rejects is counted as seen and skipped
            without being built (nor checked for a usable id).

    Raises:
        DumpFormatError: the file is truncated, not well-formed XML, or its root element does not
            match `kind`.
    """
    path = Path(path)
    kind = kind or detect_kind(path)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    caller_stats = stats is not None
    stats = stats if caller_stats else DumpStats()
    build = _BUILDERS[kind]
    started = time.monotonic()
    stats.files.append(str(path))
    bad_before = stats.records_bad
    element_index = 0
    try:
        with _open_maybe_gzip(path) as raw:
            reader = _CountingReader(raw)
            # huge_tree: release notes can exceed libxml2's 10 MB text-node limit. Entities other
            # than the predefined ones and character references are never expanded.
            context = etree.iterparse(reader, events=("end",), tag=RECORD_TAG[kind], huge_tree=True,
                                      resolve_entities=False, no_network=True)
            try:
                for _event, elem in context:
                    parent = elem.getparent()
                    if parent is None or parent.getparent() is not None:
                        continue  # not a top-level record: leave it to its enclosing record
                    stats.records_seen += 1
                    try:
                        record = build(elem) if prefilter is None or prefilter(elem) else None
                    except _BadRecordError as exc:
                        record = None
                        stats.add_bad(str(path), element_index, str(exc), _snippet(elem))
                    element_index += 1
                    # Free the finished record and everything before it so memory stays flat.
                    elem.clear()
                    while elem.getprevious() is not None:
                        del parent[0]
                    if record is not None:
                        yield record
            finally:
                stats.bytes_read_uncompressed += reader.bytes_read
            root_tag = context.root.tag if context.root is not None else None
    except _READ_ERRORS as exc:
        raise _format_error(path, exc) from exc
    finally:
        stats.seconds += time.monotonic() - started
    if root_tag != kind:
        raise DumpFormatError(
            f"{path}: root element is <{root_tag}>, expected <{kind}>; is this really a {kind} dump?"
        )
    if not caller_stats and stats.records_bad > bad_before:
        logger.warning("%s: %d record(s) without a usable id were skipped, first: %s",
                       path, stats.records_bad - bad_before, stats.bad_samples[0])


def is_soundtrack_candidate(
    record: dict,
    genres: Iterable[str] = DEFAULT_SOUNDTRACK_GENRES,
    styles: Iterable[str] = DEFAULT_SOUNDTRACK_STYLES,
) -> bool:
    """True when any of the record's genres is in `genres`, any of its styles is in `styles`, or its
    title says it is a soundtrack (`soundtrack_terms`): Discogs files many soundtracks under Hip Hop,
    Rock or Pop only. Step 04 decides eligibility again on silver, with each reason counted."""
    return (
        not set(genres).isdisjoint(record.get("genres") or ())
        or not set(styles).isdisjoint(record.get("styles") or ())
        or soundtrack_terms.title_says_soundtrack(record.get("title"))
    )


def record_line(record: dict, genres: Sequence[str], styles: Sequence[str], keep_all: bool) -> bytes | None:
    """The JSON line `convert_dump` writes for `record`, or None when the soundtrack filter drops it."""
    if not keep_all and not is_soundtrack_candidate(record, genres, styles):
        return None
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n"


def _convert_parallel(src: Path, kind: str | None, stats: DumpStats, sink: IO[bytes], *, genres: tuple,
                      styles: tuple, keep_all: bool, workers: int, chunk_bytes: int) -> None:
    """`convert_dump`'s loop on `workers` processes: same lines, same counters (see scripts.dump_parallel)."""
    kind = kind or detect_kind(src)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    tag = RECORD_TAG[kind]
    started = time.monotonic()
    stats.files.append(str(src))
    element_index = 0
    unsupported: str | None = "not started"

    def write(result: dp.ChunkResult) -> None:
        nonlocal element_index
        for index, reason, snippet in result.bad:
            stats.add_bad(str(src), element_index + index, reason, snippet)
        sink.write(result.lines)
        stats.records_kept += result.records_kept
        stats.records_seen += result.records_seen
        element_index += result.records_seen

    prefilter = None if keep_all else functools.partial(
        element_is_candidate, genres=frozenset(genres), styles=frozenset(styles))
    try:
        with _open_maybe_gzip(src) as raw:
            reader = _CountingReader(raw)
            try:
                try:
                    header, chunks = dp.split_stream(reader.read, tag, chunk_bytes)
                    unsupported = dp.header_is_supported(header)
                except dp.FramingError as exc:
                    unsupported = str(exc)
                if unsupported is None:
                    root_tag = dp.root_tag_of(header)
                    if root_tag != kind:
                        raise DumpFormatError(f"{src}: root element is <{root_tag}>, expected <{kind}>; "
                                              f"is this really a {kind} dump?")
                    job = dp.ChunkJob(
                        tag=tag, header=header, footer=f"</{kind}>".encode("ascii"), keep_all=keep_all,
                        markers=None if keep_all else dp.marker_words(genres, styles),
                        build=_BUILDERS[kind], is_candidate=prefilter, to_line=functools.partial(
                            record_line, genres=genres, styles=styles, keep_all=keep_all),
                        snippet=_snippet, bad_record_error=_BadRecordError)
                    dp.run_ordered(dp.without_footer(chunks, kind), job, workers, write)
            finally:
                if unsupported is None:
                    stats.bytes_read_uncompressed += reader.bytes_read
    except dp.FramingError as exc:
        raise DumpFormatError(f"{src}: {exc}; re-download it and verify it against the CHECKSUM file") from exc
    except dp.ChunkParseError as exc:
        raise DumpFormatError(f"{src}: not well-formed XML after record #{element_index} ({exc}); "
                              "re-download it and verify it against the CHECKSUM file") from exc
    except _READ_ERRORS as exc:
        raise _format_error(src, exc) from exc
    finally:
        if unsupported is None:
            stats.seconds += time.monotonic() - started
    if unsupported is not None:
        # An empty dump or an unusual one: the sequential reader handles it (or says what is wrong).
        logger.info("%s: read by one process (%s)", src, unsupported)
        stats.files.pop()
        for record in iter_records(src, kind, stats, prefilter=prefilter):
            line = record_line(record, genres, styles, keep_all)
            if line is not None:
                sink.write(line)
                stats.records_kept += 1


def output_stem(path: Path) -> str:
    """`discogs_20200806_masters.xml.gz` -> `discogs_20200806_masters`."""
    name = Path(path).name
    for suffix in (".gz", ".xml"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def convert_dump(
    src: Path,
    dest: Path,
    *,
    genres: Iterable[str] = DEFAULT_SOUNDTRACK_GENRES,
    styles: Iterable[str] = DEFAULT_SOUNDTRACK_STYLES,
    keep_all: bool = False,
    kind: str | None = None,
    stats: DumpStats | None = None,
    workers: int = 1,
    chunk_bytes: int = dp.DEFAULT_CHUNK_BYTES,
) -> DumpStats:
    """Write the soundtrack candidates (or every record with `keep_all`) of `src` to `dest`.

    One JSON object a line, UTF-8, keys sorted; gzip with a fixed header (mtime 0, no file name)
    when `dest` ends in `.gz`, so the same input always gives the same bytes. The file is written
    under a temporary name in `dest`'s folder and renamed at the end: an interrupted conversion
    never leaves a partial file under `dest`.

    With `workers` > 1 the XML is split into chunks of about `chunk_bytes` at record boundaries and
    parsed by that many worker processes (`scripts.dump_parallel`); the output and the counters are
    the same as with one.

    Returns:
        `stats` (a new `DumpStats` when None) updated with this file's counts.

    Raises:
        DumpFormatError: `src` is truncated, corrupt, or not a masters/releases dump.
    """
    src, dest = Path(src), Path(dest)
    stats = stats if stats is not None else DumpStats()
    genres, styles = tuple(genres), tuple(styles)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False)
    tmp_path = Path(tmp.name)
    try:
        with tmp:
            # filename="" and mtime=0 keep the temporary name and the clock out of the gzip header.
            compress = dest.name.endswith(".gz")
            with gzip.GzipFile(filename="", mode="wb", fileobj=tmp, mtime=0) if compress else nullcontext(tmp) as sink:
                prefilter = None if keep_all else functools.partial(
                    element_is_candidate, genres=frozenset(genres), styles=frozenset(styles))
                # Below two chunks there is nothing to share out; starting processes would cost more.
                if workers > 1 and src.stat().st_size > 2 * chunk_bytes:
                    _convert_parallel(src, kind, stats, sink, genres=genres, styles=styles, keep_all=keep_all,
                                      workers=workers, chunk_bytes=chunk_bytes)
                else:
                    for record in iter_records(src, kind, stats, prefilter=prefilter):
                        line = record_line(record, genres, styles, keep_all)
                        if line is not None:
                            sink.write(line)
                            stats.records_kept += 1
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return stats


def _checksum_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.upper().endswith("CHECKSUM.TXT"))


def _published_sha256(checksum_file: Path, file_name: str) -> str | None:
    """The sha256 `checksum_file` lists for `file_name` (lines `<sha256> <name>`), or None."""
    for line in checksum_file.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and parts[1].strip().lstrip("*") == file_name:
            return parts[0].lower()
    return None


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: Path, checksum_file: Path | None = None) -> bool:
    """Check `path` against the sha256 Discogs publishes beside the dumps.

    Args:
        path: the dump file.
        checksum_file: a `*CHECKSUM.txt`; when None, every `*CHECKSUM.txt` in `path`'s folder is
            searched (in name order) for a line naming `path`'s file name.

    Returns:
        True when the hash matches; False when no checksum file lists the file (nothing verified).

    Raises:
        ChecksumMismatchError: the file's sha256 differs from the published one.
    """
    path = Path(path)
    candidates = [Path(checksum_file)] if checksum_file is not None else _checksum_files(path.parent)
    for candidate in candidates:
        expected = _published_sha256(candidate, path.name)
        if expected is None:
            continue
        actual = sha256_of(path)
        if actual != expected:
            raise ChecksumMismatchError(
                f"{path}: sha256 mismatch, expected {expected} (from {candidate.name}), got {actual}; "
                "the download is damaged or incomplete, re-download it"
            )
        logger.info("%s: sha256 matches %s", path.name, candidate.name)
        return True
    return False


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.discogs_dump",
        description="Convert Discogs masters/releases dump XML into JSON lines (DIR/<stem>.jsonl.gz).",
    )
    parser.add_argument("sources", nargs="+", type=Path, metavar="SRC", help="*_masters.xml[.gz] or *_releases.xml[.gz]")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the .jsonl.gz files")
    parser.add_argument("--keep-all", action="store_true", help="keep every record, not only soundtrack candidates")
    parser.add_argument("--no-verify", action="store_true", help="skip the sha256 check against *CHECKSUM.txt")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="parser processes (default: DUMP_WORKERS, else the number of cores; 1 = sequential)")
    parser.add_argument("--genre", action="append", dest="genres", metavar="GENRE",
                        help=f"soundtrack genre, repeatable (default: {', '.join(DEFAULT_SOUNDTRACK_GENRES)})")
    parser.add_argument("--style", action="append", dest="styles", metavar="STYLE",
                        help=f"soundtrack style, repeatable (default: {', '.join(DEFAULT_SOUNDTRACK_STYLES)})")
    return parser.parse_args(argv)


def _default_workers() -> int:
    """DUMP_WORKERS from the settings, or the number of cores when the settings cannot be loaded."""
    from scripts.settings import ConfigError, load_settings

    try:
        return load_settings().dump_workers
    except ConfigError as exc:
        logger.warning("settings not loaded (%s): using one parser process per core", exc)
        return os.cpu_count() or 1


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 1 data error, 2 usage error)."""
    try:
        args = _parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on bad arguments
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    missing = [str(src) for src in args.sources if not src.is_file()]
    if missing:
        logger.error("input file(s) not found: %s", ", ".join(missing))
        return EXIT_USAGE
    stems = [output_stem(src) for src in args.sources]
    clashes = sorted({stem for stem in stems if stems.count(stem) > 1})
    if clashes:
        logger.error("several inputs would write the same output %s: convert them into separate --out folders",
                     ", ".join(f"{stem}.jsonl.gz" for stem in clashes))
        return EXIT_USAGE

    if args.workers is not None and args.workers < 1:
        logger.error("--workers must be 1 or more, got %d", args.workers)
        return EXIT_USAGE
    workers = args.workers if args.workers is not None else _default_workers()
    exit_code = EXIT_OK
    for src, stem in zip(args.sources, stems):
        dest = args.out / f"{stem}.jsonl.gz"
        try:
            if args.no_verify:
                logger.info("%s: checksum not verified (--no-verify)", src.name)
            elif not verify_checksum(src):
                logger.warning("%s: no *CHECKSUM.txt beside it lists this file; not verified", src.name)
            stats = convert_dump(
                src, dest,
                genres=args.genres or DEFAULT_SOUNDTRACK_GENRES,
                styles=args.styles or DEFAULT_SOUNDTRACK_STYLES,
                keep_all=args.keep_all,
                workers=workers,
            )
        except (ChecksumMismatchError, DumpFormatError) as exc:
            logger.error("%s", exc)
            exit_code = EXIT_DATA_ERROR
            continue
        logger.info("%s -> %s: %d records seen, %d kept, %d filtered out, %d bad, %.1f MB XML in %.1f s",
                    src.name, dest, stats.records_seen, stats.records_kept, stats.records_filtered_out,
                    stats.records_bad, stats.bytes_read_uncompressed / 1e6, stats.seconds)
        for sample in stats.bad_samples[:5]:
            logger.warning("%s: bad record #%d: %s: %s", src.name, sample["element_index"], sample["reason"],
                           sample["snippet"])
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
