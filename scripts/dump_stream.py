"""A generated Discogs releases dump of any size, for the parse benchmark.

Real dumps are tens of GB; the benchmark needs millions of releases with a realistic record size and
soundtrack share without storing or shipping such a file. Records are copied from templates (the
real 2020 and 2025 samples in ../shared/data when present, else the project's sample generator),
with fresh ids, in a fixed order that puts `soundtrack_share` of soundtrack templates among the
others. Used by the parse benchmark (`scripts.bench_parse`) only; nothing here is part of the pipeline.
"""
from __future__ import annotations

import gzip
import logging
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lxml import etree

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REAL_RELEASE_SAMPLES = (
    PROJECT_ROOT.parent / "shared" / "data" / "discogs_dump_xml" / "discogs_20200806_releases.xml.gz",
    PROJECT_ROOT.parent / "shared" / "data" / "discogs_dump_xml" / "tgmz_2025" / "discogs_releases.xml.gz",
)
_ID_ATTRIBUTE = re.compile(rb'\bid="[^"]*"')


@dataclass(frozen=True)
class Templates:
    """Release records split around their id value: `prefix + id + suffix` is one record."""

    soundtracks: tuple[tuple[bytes, bytes], ...]
    others: tuple[tuple[bytes, bytes], ...]
    source: str

    @property
    def mean_record_bytes(self) -> float:
        both = self.soundtracks + self.others
        return sum(len(p) + len(s) + 8 for p, s in both) / len(both)


def _split_template(xml: bytes) -> tuple[bytes, bytes]:
    found = _ID_ATTRIBUTE.search(xml)
    return xml[: found.start()] + b'id="', b'"' + xml[found.end():]


def load_templates(paths: Iterable[Path] = REAL_RELEASE_SAMPLES, genres: Iterable[str] | None = None,
                   styles: Iterable[str] | None = None) -> Templates:
    """Release templates from dump files, told apart by `discogs_dump.element_is_candidate`.

    Falls back on a small release dump from `scripts.generate_sample_data` when no path exists.
    """
    from scripts.discogs_dump import element_is_candidate
    from scripts.settings import DEFAULT_SOUNDTRACK_GENRES, DEFAULT_SOUNDTRACK_STYLES

    wanted_genres = frozenset(genres or DEFAULT_SOUNDTRACK_GENRES)
    wanted_styles = frozenset(styles or DEFAULT_SOUNDTRACK_STYLES)
    files = [Path(p) for p in paths if Path(p).is_file()]
    source = "real samples: " + ", ".join(p.name for p in files)
    with tempfile.TemporaryDirectory(prefix="dump-templates-") as scratch:
        if not files:
            from scripts.generate_sample_data import RELEASES_FILE, generate

            generate(Path(scratch), films=300, seed=11, bad_records=0, overwrite=True)
            files = [Path(scratch) / RELEASES_FILE]
            source = "scripts.generate_sample_data (no real samples found)"
        soundtracks, others = [], []
        for path in files:
            with gzip.open(path, "rb") as handle:
                for _event, elem in etree.iterparse(handle, events=("end",), tag="release", huge_tree=True,
                                                    resolve_entities=False, no_network=True):
                    if elem.getparent() is not None and elem.getparent().getparent() is None:
                        xml = etree.tostring(elem, encoding="utf-8", with_tail=False).rstrip() + b"\n"
                        is_soundtrack = element_is_candidate(elem, wanted_genres, wanted_styles)
                        (soundtracks if is_soundtrack else others).append(_split_template(xml))
                        elem.clear()
    if not soundtracks or not others:
        raise ValueError(f"templates need soundtrack and other releases, got {len(soundtracks)} and {len(others)}")
    return Templates(tuple(soundtracks), tuple(others), source)


def write_release_stream(sink: IO[bytes], releases: int, templates: Templates,
                         soundtrack_share: float = 0.03) -> dict:
    """Write a releases dump of `releases` records to `sink`; returns what was written.

    Release i (ids 1..n) is a soundtrack when `(i * 7919) % 10000 < share * 10000`: spread evenly,
    the same for every run. Templates are used round-robin within each kind.
    """
    threshold = round(soundtrack_share * 10000)
    buffer, size, written = [], 0, 0
    header = b'<?xml version="1.0" encoding="UTF-8"?>\n<releases>\n'
    sink.write(header)
    written += len(header)
    counters = [0, 0]
    for release_id in range(1, releases + 1):
        if (release_id * 7919) % 10000 < threshold:
            prefix, suffix = templates.soundtracks[counters[0] % len(templates.soundtracks)]
            counters[0] += 1
        else:
            prefix, suffix = templates.others[counters[1] % len(templates.others)]
            counters[1] += 1
        record = prefix + str(release_id).encode("ascii") + suffix
        buffer.append(record)
        size += len(record)
        if size >= 1 << 22:
            sink.write(b"".join(buffer))
            written += size
            buffer, size = [], 0
    footer = b"</releases>\n"
    sink.write(b"".join(buffer) + footer)
    written += size + len(footer)
    return {"releases": releases, "soundtracks": counters[0], "xml_bytes": written}
