"""The report: built from a small pipeline run made in-process, its numbers checked against the
gold tables, its charts decoded, and the page rendered in headless Chromium."""
import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from scripts.gold_digest import gold_folder
from scripts_spark import pipeline, report, storage
from scripts_spark.gold_tables import TABLE_ORDER
from scripts_spark.metrics import RunMetrics, StepMetrics
from tests.scripts_spark.helpers import film, master, release

RUN_ID = "r1"
CHARTS = {"effect_sizes", "style_vs_film", "coverage_genre", "coverage_decade", "coverage_language", "composers",
          "formats_by_year"}
GOLD_TABLES = ["film_soundtracks", "coverage_by_genre_decade", "coverage_by_language", "soundtrack_style_vs_film",
               "composers", "formats_by_year", "effect_tests", "effect_regression", "effect_sensitivity"]
CHROMIUM = "/usr/bin/chromium"

FILMS = [
    film(1, "Amélie", "2001-04-25", ["Yann Tiersen"], "Le Fabuleux Destin d'Amélie Poulain", ("Comedy", "Romance"),
         20.0, 7.9, language="fr"),
    film(2, "Spirited Away", "2001-07-20", ["Joe Hisaishi"], "千と千尋の神隠し", ("Animation", "Family"), 80.0, 8.5,
         language="ja"),
    film(3, "Princess Mononoke", "1997-07-12", ["Joe Hisaishi"], "もののけ姫", ("Animation", "Adventure"), 60.0, 8.3,
         language="ja"),
    film(4, "Arrival", "2016-11-10", ["Jóhann Jóhannsson"], None, ("Drama", "Science Fiction"), 40.0, 7.6),
    film(5, "Sicario", "2015-09-17", ["Jóhann Jóhannsson"], None, ("Action", "Crime", "Thriller"), 35.0, 7.4),
    film(6, "The Mission", "1986-10-31", ["Ennio Morricone"], None, ("Drama", "History"), 12.0, 7.4),
    film(7, "Cinema Paradiso", "1988-11-17", ["Ennio Morricone"], "Nuovo Cinema Paradiso", ("Drama", "Romance"),
         25.0, 8.4, language="it"),
    film(8, "Inception", "2010-07-15", ["Hans Zimmer"], None, ("Action", "Science Fiction"), 90.0, 8.4),
    film(9, "Quiet Film", "2005-01-01", [], None, ("Drama",), 3.0, 6.0),
    film(10, "Unscored Comedy", "2012-05-05", ["Nobody Known"], None, ("Comedy",), 5.0, 5.5, language="de"),
    film(11, "Lost Tapes", "", [], None, (), 1.0, 0.0),
    film(12, "Oldboy", "2003-11-21", ["Cho Young-wuk"], "올드보이", ("Thriller",), 30.0, 8.3, language="ko"),
    film(13, "Les Parapluies de Cherbourg", "1964-02-19", ["Michel Legrand"], None, ("Drama", "Romance"), 10.0, 7.8,
         language="fr"),
    film(14, "Untitled Horror", "2019-10-10", [], None, ("Horror",), 4.0, 4.5),
]
MASTERS = [
    master(101, "Le Fabuleux Destin D'Amélie Poulain (Bande Originale Du Film)", 2001, ["Yann Tiersen"],
           ("Stage & Screen", "Pop"), ("Score", "Chanson"), 1001),
    master(102, "Spirited Away (Original Soundtrack)", 2001, ["Joe Hisaishi"], styles=("Score",), main_release=1011),
    master(103, "Princess Mononoke (Soundtrack)", 1997, ["Joe Hisaishi"], styles=("Score",), main_release=1021),
    master(104, "Arrival (Original Motion Picture Soundtrack)", 2016, ["Jóhann Jóhannsson"],
           ("Stage & Screen", "Classical"), ("Score", "Modern Classical"), 1031),
    master(105, "Sicario (Original Motion Picture Soundtrack)", 2015, ["Jóhann Jóhannsson"], styles=("Score",),
           main_release=1041),
    master(106, "The Mission (Original Soundtrack From The Motion Picture)", 1986, ["Ennio Morricone"],
           ("Stage & Screen", "Classical"), ("Score",), 1051),
    master(107, "Nuovo Cinema Paradiso (Colonna Sonora Originale)", 1988, ["Ennio Morricone"],
           styles=("Score", "Soundtrack"), main_release=1061),
    master(108, "Inception (Music From The Motion Picture)", 2010, ["Hans Zimmer"],
           ("Electronic", "Stage & Screen"), ("Score", "Soundtrack", "Modern Classical"), 1071),
    master(110, "Les Parapluies De Cherbourg (Bande Originale Du Film)", 1964, ["Michel Legrand"],
           ("Jazz", "Stage & Screen"), ("Soundtrack", "Musical"), 1091),
    master(111, "Inception", 2012, ["Some Band"], ("Rock",), ("Alternative Rock",), 1101),
]


def _release(rid, master_id, year, formats, title, artist, **kw):
    return release(rid, title, year, master_id, [artist], formats=formats, **kw)


RELEASES = [
    _release(1001, 101, 2001, ["CD"], MASTERS[0]["title"], "Yann Tiersen", labels=["Virgin"], is_main=True,
             genres=("Stage & Screen", "Pop"), styles=("Score", "Chanson"), country="France"),
    _release(1002, 101, 2015, ["Vinyl"], MASTERS[0]["title"], "Yann Tiersen", labels=["Virgin"]),
    _release(1011, 102, 2001, ["CD"], MASTERS[1]["title"], "Joe Hisaishi", labels=["徳間ジャパン"], country="Japan"),
    _release(1012, 102, 2020, ["Vinyl", "Box Set"], MASTERS[1]["title"], "Joe Hisaishi",
             labels=["Studio Ghibli Records"]),
    _release(1021, 103, 1997, ["CD", "Cassette"], MASTERS[2]["title"], "Joe Hisaishi", labels=["徳間ジャパン"]),
    _release(1031, 104, 2016, ["File", "CD"], MASTERS[3]["title"], "Jóhann Jóhannsson", labels=["Deutsche Grammophon"]),
    _release(1032, 104, 2017, ["Vinyl"], MASTERS[3]["title"], "Jóhann Jóhannsson", labels=["Deutsche Grammophon"]),
    _release(1041, 105, 2015, ["File"], MASTERS[4]["title"], "Jóhann Jóhannsson", labels=["Varèse Sarabande"]),
    _release(1051, 106, 1986, ["Vinyl", "Cassette"], MASTERS[5]["title"], "Ennio Morricone", labels=["Virgin"]),
    _release(1052, 106, 1990, ["CD"], MASTERS[5]["title"], "Ennio Morricone", labels=["Virgin"]),
    _release(1061, 107, 1988, ["Vinyl"], MASTERS[6]["title"], "Ennio Morricone", labels=["CAM"]),
    _release(1071, 108, 2010, ["CD", "File"], MASTERS[7]["title"], "Hans Zimmer", labels=["Reprise Records"]),
    _release(1072, 108, 2020, ["Vinyl", "DVD"], MASTERS[7]["title"], "Hans Zimmer", labels=["Mondo"]),
    _release(1091, 110, 1964, ["Vinyl"], MASTERS[8]["title"], "Michel Legrand", labels=["Philips"]),
    _release(1092, 110, 1996, ["CD"], MASTERS[8]["title"], "Michel Legrand", labels=["Universal"]),
    _release(1101, 111, 2012, ["CD"], "Inception", "Some Band", genres=("Rock",), styles=("Alternative Rock",)),
    # A release without master: its own album.
    _release(1200, None, 2004, ["CD"], "Oldboy (Original Soundtrack)", "Cho Young-wuk", labels=["Universal Korea"]),
]
TRUE_PAIRS = [(1, 101, 1001), (2, 102, 1011), (3, 103, 1021), (4, 104, 1031), (5, 105, 1041), (6, 106, 1051),
              (7, 107, 1061), (8, 108, 1071), (13, 110, 1091), (12, None, 1200)]


def _write_jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


@pytest.fixture(scope="module")
def run_root(spark, tmp_path_factory):
    """A data root after `pipeline.main` ran steps 1-5 in-process on the records above (the runner
    writes the report after the metrics; a copy is kept in `runner_report/`), then `report.main`
    rebuilt it from the files, as `make report` does."""
    root = tmp_path_factory.mktemp("report_run")
    _write_jsonl(root / "raw" / "tmdb" / "films.jsonl", FILMS)
    _write_jsonl(root / "raw" / "discogs" / "test_masters.jsonl", MASTERS)
    _write_jsonl(root / "raw" / "discogs" / "test_releases.jsonl", RELEASES)
    (root / "raw" / "true_pairs.csv").write_text(
        "tmdb_id,discogs_master_id,discogs_release_id\n"
        + "".join(f"{t},{'' if m is None else m},{r}\n" for t, m, r in TRUE_PAIRS)
    )
    assert pipeline.main(["--data-root", str(root), "--run-id", RUN_ID]) == 0
    shutil.copytree(root / "reports", root / "runner_report")
    assert report.main(["--data-root", str(root)]) == 0
    return root


@pytest.fixture(scope="module")
def html(run_root):
    return (run_root / "reports" / f"report_{RUN_ID}.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def gold(spark, run_root):
    """Every gold table as a list of dicts, in its stored order."""
    return {name: [r.asDict() for r in spark.read.parquet(str(gold_folder(run_root) / name)).collect()]
            for name in GOLD_TABLES}


class _ReportParser(HTMLParser):
    """Collects the images, the `data-key` figures and the `data-table` tables of the page."""

    def __init__(self):
        super().__init__()
        self.images, self.figures, self.tables, self.lists = [], {}, {}, {}
        self._table = self._row = self._cell = self._key = self._list = self._item = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if "data-table" in attrs:
            self._table = self.tables.setdefault(attrs["data-table"], [])
        if tag == "tr" and self._table is not None:
            self._row = {}
            self._table.append(self._row)
        if tag == "td" and self._row is not None and "data-col" in attrs:
            self._cell = attrs["data-col"]
            self._row[self._cell] = ""
        if tag in ("dd", "span", "strong") and "data-key" in attrs:
            self._key = attrs["data-key"]
            self.figures[self._key] = ""
        if tag == "ul" and "data-list" in attrs:
            self._list = self.lists.setdefault(attrs["data-list"], [])
        if tag == "li" and self._list is not None:
            self._item = len(self._list)
            self._list.append("")

    @classmethod
    def of(cls, text: str) -> "_ReportParser":
        parser = cls()
        parser.feed(text)
        return parser

    def handle_endtag(self, tag):
        if tag in ("table", "dl"):
            self._table = self._row = None
        if tag == "td":
            self._cell = None
        if tag in ("dd", "span", "strong"):
            self._key = None
        if tag == "ul":
            self._list = None
        if tag == "li":
            self._item = None

    def handle_data(self, data):
        if self._item is not None:
            self._list[self._item] += data
        if self._cell is not None:
            self._row[self._cell] += data
        if self._key is not None:
            self.figures[self._key] += data


@pytest.fixture(scope="module")
def page(html):
    parser = _ReportParser()
    parser.feed(html)
    parser.tables = {name: [r for r in rows if r] for name, rows in parser.tables.items()}
    return parser


def _same(shown: str, value, column: str) -> bool:
    """Whether a number as shown equals the gold value at the precision it is shown with."""
    shown = shown.strip()
    if value is None:
        return shown == "–"
    if isinstance(value, bool):
        return shown == ("yes" if value else "no")
    if isinstance(value, str):
        return shown == value
    if shown.endswith("%"):
        return abs(float(shown.rstrip(" %")) / 100 - value) <= 0.0005 + 1e-9
    if "e" in shown:  # a small p-value: 3.2e-07
        mantissa, exponent = shown.split("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return abs(float(shown) - value) <= 0.5 * 10 ** (int(exponent) - decimals) * (1 + 1e-9)
    if isinstance(value, int):
        return shown == str(value)
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return abs(float(shown) - value) <= 0.5 * 10 ** -decimals + 1e-9


def _assert_rows(shown_rows: list[dict], gold_rows: list[dict], table: str) -> None:
    assert len(shown_rows) == len(gold_rows), table
    for shown, row in zip(shown_rows, gold_rows):
        for column, text in shown.items():
            value = row[column]
            if column in ("decade", "album_year") and value is None:
                value = "unknown"
            elif column in ("decade", "album_year"):
                value = str(value)
            assert _same(text, value, column), f"{table}.{column}: shown {text!r}, gold {value!r}"


def test_the_runner_wrote_the_report_of_its_own_run(run_root):
    """Step 05 writes tables only; the runner writes the report after the metrics, so the report
    shows this run's figures (finished, with every step), and records the report's status."""
    metrics = json.loads((run_root / "metrics" / f"run_{RUN_ID}.json").read_text())
    step5 = metrics["steps"][-1]
    assert step5["step"] == "05_aggregate" and step5["status"] == "ok"
    assert set(step5["rows_out"]) == set(GOLD_TABLES) and "report" not in step5["details"]
    assert metrics["quality"]["true_pairs"] == len(TRUE_PAIRS)
    assert metrics["report"]["status"] == "ok"
    assert Path(metrics["report"]["html"]).name == f"report_{RUN_ID}.html"
    assert Path(metrics["report"]["md"]).name == f"report_{RUN_ID}.md"
    html = (run_root / "runner_report" / f"report_{RUN_ID}.html").read_text(encoding="utf-8")
    md = (run_root / "runner_report" / f"report_{RUN_ID}.md").read_text(encoding="utf-8")
    assert f"run_{RUN_ID}.json" in html and "No metrics file" not in html
    assert f"finished {metrics['finished_at']}" in md and "in progress" not in md
    for step in metrics["steps"]:
        assert step["step"] in html
    assert f"precision {metrics['quality']['precision']:.4f}" in md


def test_csv_files_are_one_file_each_in_table_order(spark, run_root, gold):
    for name in GOLD_TABLES:
        folder = gold_folder(run_root) / f"{name}_csv"
        assert [p.name for p in folder.glob("*.csv")] == [f"{name}.csv"]
        with open(folder / f"{name}.csv", newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
        assert reader.fieldnames == spark.read.parquet(str(gold_folder(run_root) / name)).columns
        assert len(rows) == len(gold[name])
        if not rows:
            continue
        first_key = TABLE_ORDER[name][0].lstrip("-")
        assert [r[first_key] for r in rows] == ["" if g[first_key] is None else str(g[first_key]) for g in gold[name]]
    amelie = next(r for r in csv.DictReader(open(gold_folder(run_root) / "film_soundtracks_csv" / "film_soundtracks.csv",
                                                 encoding="utf-8")) if r["tmdb_id"] == "1")
    assert amelie["album_formats"] == "CD; Vinyl" and amelie["original_title"] == "Le Fabuleux Destin d'Amélie Poulain"


def test_every_chart_is_a_non_empty_png(page):
    charts = {img.get("data-chart"): img["src"] for img in page.images}
    assert set(charts) == CHARTS
    for name, src in charts.items():
        assert src.startswith("data:image/png;base64,"), name
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))
        assert image.format == "PNG", name
        assert image.width >= 400 and image.height >= 200, (name, image.size)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert len(colours) > 20, f"{name} is nearly uniform"


def test_headline_numbers_equal_gold(page, gold):
    films = gold["film_soundtracks"]
    with_st = sum(f["has_soundtrack"] for f in films)
    albums = {a for f in films for a in f["album_ids"]}
    formats = gold["formats_by_year"]
    expected = {"films": len(films), "films_with_soundtrack": with_st, "soundtrack_share": with_st / len(films),
                "matched_albums": len(albums), "composers_total": len(gold["composers"]),
                "reissue_share": sum(r["reissued_albums"] for r in formats) / sum(r["albums"] for r in formats)}
    assert with_st >= 8 and len(albums) >= 8     # the run matched most of the soundtracks
    for key, value in expected.items():
        assert _same(page.figures[key], value, key), (key, page.figures[key], value)


def test_table_numbers_equal_gold(page, gold):
    style = gold["soundtrack_style_vs_film"]
    order = {"all": 0, "baseline": 1, "genre": 2, "style": 3}
    expected_style = sorted(style, key=lambda r: (order[r["dimension"]], -r["films"], r["value"]))
    _assert_rows(page.tables["soundtrack_style_vs_film"], expected_style, "soundtrack_style_vs_film")
    _assert_rows(page.tables["coverage_by_language"],
                 sorted(gold["coverage_by_language"], key=lambda r: (-r["films"], r["original_language"])),
                 "coverage_by_language")
    _assert_rows(page.tables["composers"], gold["composers"][:report.TOP_COMPOSERS], "composers")
    _assert_rows(page.tables["formats_by_year"], gold["formats_by_year"], "formats_by_year")

    genres: dict = {}
    for r in gold["coverage_by_genre_decade"]:
        total = genres.setdefault(r["film_genre"],
                                  {"film_genre": r["film_genre"], "films": 0, "films_with_soundtrack": 0})
        total["films"] += r["films"]
        total["films_with_soundtrack"] += r["films_with_soundtrack"]
    for total in genres.values():
        total["soundtrack_share"] = total["films_with_soundtrack"] / total["films"]
        total["is_small_group"] = total["films"] < 10
    _assert_rows(page.tables["coverage_by_genre"],
                 sorted(genres.values(), key=lambda r: (-r["films"], r["film_genre"])), "coverage_by_genre")

    decades: dict = {}
    for f in gold["film_soundtracks"]:
        total = decades.setdefault(f["decade"], {"decade": f["decade"], "films": 0, "films_with_soundtrack": 0})
        total["films"] += 1
        total["films_with_soundtrack"] += int(f["has_soundtrack"])
    for total in decades.values():
        total["soundtrack_share"] = total["films_with_soundtrack"] / total["films"]
        total["is_small_group"] = total["films"] < 10
    _assert_rows(page.tables["coverage_by_decade"],
                 sorted(decades.values(), key=lambda r: (r["decade"] is not None, r["decade"] or 0)),
                 "coverage_by_decade")


def test_metrics_and_quality_equal_the_metrics_file(run_root, page):
    metrics = json.loads((run_root / "metrics" / f"run_{RUN_ID}.json").read_text())
    for key, value in metrics["quality"].items():
        assert _same(page.figures[key], value, key), key
    steps = page.tables["steps"]
    assert [s["step"] for s in steps] == [s["step"] for s in metrics["steps"]]
    for shown, step in zip(steps, metrics["steps"]):
        assert _same(shown["seconds"], step["seconds"], "seconds") and shown["status"] == step["status"]
        assert shown["rows_out"] == ", ".join(f"{k}={v}" for k, v in sorted(step["rows_out"].items()))


def test_provenance_limits_and_no_external_resources(html):
    for name in ("films.jsonl", "test_masters.jsonl", "test_releases.jsonl", "true_pairs.csv"):
        assert name in html
    assert 'id="limits"' in html and "Correlation, not causation" in html and "What Discogs covers" in html
    assert "Jóhann Jóhannsson" in html
    assert not re.search(r"https?://", html, re.IGNORECASE)
    assert not re.search(r"""(src|href)\s*=\s*["']?//""", html, re.IGNORECASE)
    assert not re.search(r"<script|<link|@import|url\(", html, re.IGNORECASE)
    assert "This run used the generated sample data" not in html


def test_markdown_summary(run_root, gold):
    md = (run_root / "reports" / f"report_{RUN_ID}.md").read_text(encoding="utf-8")
    films = gold["film_soundtracks"]
    assert f"| films | {len(films)} |" in md
    assert f"report_{RUN_ID}.html" in md and "## Limits" in md and "## Provenance" in md
    assert "precision 1.0000" in md or "precision 0." in md


def test_report_with_the_runners_metrics(spark, run_root):
    """Metrics handed in by the runner name the report after that run and are shown as they are."""
    run = RunMetrics(run_id="hooked", data_root=str(run_root), input="generated")
    run.steps.append(StepMetrics(step="05_aggregate", rows_out={"film_soundtracks": 14}))
    paths = report.write_report(spark, storage.published(spark, storage.Layers(str(run_root))), run_metrics=run)
    assert paths["html"].endswith("report_hooked.html")
    text = Path(paths["html"]).read_text(encoding="utf-8")
    assert "run_hooked.json" in text and "The gold tables are newer" not in text
    assert "This run used the generated sample data set" in text


def test_metrics_older_than_the_gold_tables_are_flagged(spark, run_root):
    gold_dir = gold_folder(run_root) / "film_soundtracks"
    before = gold_dir.stat()
    os.utime(gold_dir, (before.st_atime + 3600, before.st_mtime + 3600))
    try:
        data = report.collect_report_data(spark, storage.published(spark, storage.Layers(str(run_root))), run_id=RUN_ID)
    finally:
        os.utime(gold_dir, (before.st_atime, before.st_mtime))
    assert any(f"The gold tables are newer than run_{RUN_ID}.json" in note for note in data.notes)
    assert "The gold tables are newer" in report.render_markdown(data, "x.html")


def _effect_order(row):
    """The report's order of effect_tests, written out independently: the family by p-value, then
    the groups outside it, largest first."""
    if row["in_family"]:
        return (0, row["p_value"], 0, row["dimension"], row["value"], row["metric"])
    return (1, 0.0, -row["films"], row["dimension"], row["value"], row["metric"])


def _assert_effect_tables(page, gold):
    """The three effect tables as shown equal the gold tables, cell by cell, in the shown order."""
    shown = report.TOP_EFFECT_ROWS
    _assert_rows(page.tables.get("effect_tests", []), sorted(gold["effect_tests"], key=_effect_order)[:shown],
                 "effect_tests")
    _assert_rows(page.tables.get("effect_regression", []), gold["effect_regression"][:shown], "effect_regression")
    sensitivity = sorted(gold["effect_sensitivity"], key=lambda r: (r["is_robust"], not r["significant_all"],
                                                                    r["dimension"], r["value"], r["metric"]))
    _assert_rows(page.tables.get("effect_sensitivity", []), sensitivity[:shown], "effect_sensitivity")
    family = [r for r in gold["effect_tests"] if r["in_family"]]
    assert page.figures["family_size"] == str(len(family))
    assert page.figures["family_significant"] == str(sum(r["is_significant"] for r in family))
    assert page.figures["sensitivity_flagged"] == str(sum(not r["is_robust"] for r in gold["effect_sensitivity"]))


def test_effect_tables_equal_gold(page, gold):
    _assert_effect_tables(page, gold)
    assert page.figures["confident_match_score"] == "0.90"
    assert "budget" in page.figures["not_controlled"] and "release decade" in page.figures["controls"]
    # One sentence per comparison significant after correction (the rule), or one saying there is none.
    significant = [r for r in gold["effect_tests"] if r["is_significant"]]
    assert all(r["in_family"] and r["films"] >= 10 for r in significant)
    if significant:
        assert len(page.lists["findings"]) == len(significant)
    else:
        assert len(page.lists["findings"]) == 1 and page.lists["findings"][0].startswith("None of the")


# --- Report level: which comparisons may become a main finding (issue 16) ---

EFFECT_FILM_SCHEMA = (
    "tmdb_id long, title string, original_title string, original_language string, release_year int, decade int, "
    "genres array<string>, popularity double, vote_average double, vote_count long, composer_names array<string>, "
    "album_ids array<string>, album_titles array<string>, album_genres array<string>, album_styles array<string>, "
    "album_formats array<string>, album_labels array<string>, album_years array<int>, "
    "album_release_years array<int>, n_releases long, n_albums int, has_soundtrack boolean"
)


def _effect_world(spark):
    """Films as gold/film_soundtracks holds them: 200 without soundtrack; a 'Rock' group of 30
    clearly more popular; a 'Jazz' group of 25 like the baseline; a 'Polka' group of 4 films with
    extreme popularity and rating (a small group however striking). Every match is confident."""
    import random

    rng = random.Random(7)
    rows, matches = [], []

    def add(popularity, vote, genre=None, decade=1990):
        i = len(rows) + 1
        album = [f"a{i}"] if genre else []
        rows.append((i, f"Film {i}", f"Film {i}", rng.choice(["en", "fr"]), decade + 5, decade,
                     [rng.choice(["Drama", "Comedy"])], float(popularity), float(vote), rng.randint(10, 5000),
                     ["Composer Ü"] if genre else [], album, [f"Album {i}"] if genre else [],
                     [genre, "Stage & Screen"] if genre else [], ["Score"] if genre else [],
                     ["CD"] if genre else [], ["Label"] if genre else [], [decade + 5] if genre else [],
                     [decade + 5] if genre else [], 1 if genre else 0, len(album), bool(genre)))
        if genre:
            matches.append((i, f"a{i}", 0.97))

    for _ in range(200):
        add(rng.lognormvariate(0, 1), rng.gauss(6, 1), decade=rng.choice([1990, 2000]))
    for _ in range(30):
        add(rng.lognormvariate(1.8, 1), rng.gauss(6, 1), "Rock", decade=rng.choice([1990, 2000]))
    for _ in range(25):
        add(rng.lognormvariate(0, 1), rng.gauss(6, 1), "Jazz", decade=rng.choice([1990, 2000]))
    for _ in range(4):
        add(900.0, 9.9, "Polka")
    film_df = spark.createDataFrame(rows, EFFECT_FILM_SCHEMA)
    matches_df = spark.createDataFrame(matches, "tmdb_id long, album_id string, match_score double")
    albums_df = spark.createDataFrame([(f"a{r[0]}", r[4], ["CD"], [r[4]], 1) for r in rows if r[-1]],
                                      "album_id string, year int, formats array<string>, release_years array<int>, "
                                      "n_releases long")
    return film_df, matches_df, albums_df


@pytest.fixture(scope="module")
def effect_report(spark, tmp_path_factory):
    """Step 05's analytics tables written for the world above, and the report built from them."""
    from scripts_spark.gold_tables import GOLD_TABLES as TABLES
    from scripts_spark.step_05_aggregate import AnalyticsInputs, write_analytics

    root = tmp_path_factory.mktemp("effect_report")
    layers = storage.Layers(str(root))
    film_df, matches_df, albums_df = _effect_world(spark)
    storage.write_gold(film_df, layers, TABLES[0].name, [film_df["tmdb_id"].asc()], partitions=1)
    written = spark.read.parquet(layers.gold(TABLES[0].name))
    write_analytics(layers, AnalyticsInputs(written, albums_df, matches_df, 0.9))
    data = report.collect_report_data(spark, layers)
    parser = _ReportParser()
    parser.feed(report.render_html(data, charts=[]))
    parser.tables = {name: [r for r in rows if r] for name, rows in parser.tables.items()}
    gold_rows = {name: [r.asDict() for r in spark.read.parquet(layers.gold(name)).collect()]
                 for name in ("effect_tests", "effect_regression", "effect_sensitivity")}
    return data, parser, gold_rows


def test_only_large_significant_groups_become_main_findings(effect_report):
    """On the page: the strong large group is a finding; the small extreme group and the group
    that is not significant after Holm's correction are shown in the tests table but are never
    a main finding."""
    data, page, gold = effect_report
    findings = page.lists["findings"]
    tests = {(r["dimension"], r["value"], r["metric"]): r for r in gold["effect_tests"]}
    polka, jazz, rock = (tests[("genre", g, "popularity")] for g in ("Polka", "Jazz", "Rock"))
    assert polka["films"] == 4 and polka["is_small_group"] and not polka["in_family"] and polka["p_value"] < 0.05
    assert jazz["films"] == 25 and jazz["in_family"] and not jazz["is_significant"]
    assert rock["is_significant"] and rock["cliffs_delta"] > 0.3
    assert any("“Rock”" in f and "higher median popularity" in f for f in findings)
    assert not any("Polka" in f or "Jazz" in f for f in findings)
    # Every finding is a significant family comparison, with its effect size and adjusted p as in gold.
    significant = [r for r in gold["effect_tests"] if r["is_significant"]]
    assert len(findings) == len(significant) >= 1
    for row in significant:
        group = "with a soundtrack album" if row["dimension"] == "all" else f"{row['dimension']} “{row['value']}”"
        metric = "popularity" if row["metric"] == "popularity" else "vote average"
        expected = (f"median {metric} than films without one ({row['median']:.2f} vs {row['baseline_median']:.2f}; "
                    f"Cliff's delta {row['cliffs_delta']:+.2f}")
        held = f"Holm-adjusted p = {row['p_holm']:.2g}; {row['films']} films)"
        assert any(group in f and expected in f and held in f for f in findings), (group, expected, findings)
    # Small groups are shown (greyed) in the tests table; the tables equal gold number by number.
    assert any(r["value"] == "Polka" and r["in_family"] == "no" for r in page.tables["effect_tests"])
    _assert_effect_tables(page, gold)


def test_no_surviving_comparison_says_so(effect_report):
    """Without a significant comparison the findings are one sentence saying so, never a ranking."""
    _, _, gold = effect_report
    not_significant = [r for r in gold["effect_tests"] if not r["is_significant"]]
    (sentence,) = report.main_findings(not_significant, gold["effect_regression"], gold["effect_sensitivity"])
    family = sum(r["in_family"] for r in not_significant)
    assert sentence.startswith(f"None of the {family} comparisons in the family is significant after Holm's")
    small_only = [r for r in gold["effect_tests"] if not r["in_family"]]
    assert report.main_findings(small_only, [], [])[0].startswith("No soundtrack genre or style")


def test_metrics_selection_and_errors(spark, run_root, tmp_path, capsys):
    layers = storage.published(spark, storage.Layers(str(run_root)))
    doc, path = report.find_metrics(spark, layers)
    assert doc["run_id"] == RUN_ID and path.endswith(f"run_{RUN_ID}.json")
    # A newer run that did not reach step 05 is not the one the gold tables came from.
    storage.write_text(spark, layers.metrics("run_zz_partial.json"),
                       json.dumps({"run_id": "zz_partial", "steps": [{"step": "03_normalize", "status": "ok"}]}))
    try:
        assert report.find_metrics(spark, layers)[0]["run_id"] == RUN_ID
        assert report.find_metrics(spark, layers, "zz_partial")[0]["run_id"] == "zz_partial"
    finally:
        storage.delete(spark, layers.metrics("run_zz_partial.json"))
    with pytest.raises(report.ReportError, match="--run-id"):
        report.find_metrics(spark, layers, "nope")
    assert report.main(["--data-root", str(run_root), "--run-id", "nope"]) == 1
    assert report.main(["--data-root", str(tmp_path)]) == 1
    assert "run the pipeline" in capsys.readouterr().err


def test_empty_tables_still_render(tmp_path):
    data = report.ReportData(
        run_id="empty", generated_at="now", data_root=str(tmp_path), metrics=None, metrics_source="none",
        notes=["No metrics file"], is_sample_data=False,
        headline={"films": 0, "films_with_soundtrack": 0, "soundtrack_share": None, "matched_albums": 0,
                  "first_release_year": None, "last_release_year": None},
        style_rows=[], style_hidden=0, coverage_genre=[], coverage_decade=[], coverage_language=[], languages_total=0,
        composers=[], composers_total=0, formats=[], formats_decade=[],
        format_totals={"albums": 0, "releases": 0, "reissued_albums": 0, "reissue_share": None,
                       "first_album_year": None, "last_album_year": None,
                       **{f"{g}_albums": 0 for g in ("vinyl", "cd", "cassette", "file", "other")}},
        raw_files=[], bronze_sources=[],
    )
    charts = report.render_charts(data)
    assert {c.name for c in charts} == CHARTS
    html = report.render_html(data, charts)
    assert "No run metrics were found" in html and "no input files found" in html
    assert "No metrics file" in report.render_markdown(data, "report_empty.html")


def test_page_renders_in_headless_chromium(run_root, tmp_path):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("chromium is not installed (apt-get install -y chromium chromium-driver; .ci/run does it)")
    binary = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    shot = tmp_path / "report.png"
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,5000",
        (run_root / "reports" / f"report_{RUN_ID}.html").as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 5000)
    colours = image.getcolors(maxcolors=10_000_000)
    assert len(colours) > 200, "the screenshot is (nearly) blank"
    white = sum(count for count, colour in colours if colour == (255, 255, 255))
    assert white < 0.95 * image.width * image.height, "the screenshot is mostly white"
    # The charts' coloured bars: without the images the first 5000 px (the tests section's text and
    # tables come first) hold only a few thousand saturated pixels (links, rules); with them tens
    # of thousands.
    saturated = sum(count for count, (r, g, b) in colours if max(r, g, b) - min(r, g, b) > 60)
    assert saturated > 30_000, f"only {saturated} coloured pixels: the charts did not render"


def test_numbers_as_chromium_renders_them_equal_gold(run_root, gold, tmp_path):
    """The DOM headless Chromium builds from the page (not the file's text) holds the same numbers
    as gold: the key figures, the descriptive table and the three effect tables."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("chromium is not installed (apt-get install -y chromium chromium-driver; .ci/run does it)")
    binary = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
               (run_root / "reports" / f"report_{RUN_ID}.html").as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "<table" in done.stdout, done.stderr[-2000:]
    rendered = _ReportParser()
    rendered.feed(done.stdout)
    rendered.tables = {name: [r for r in rows if r] for name, rows in rendered.tables.items()}
    _assert_effect_tables(rendered, gold)
    order = {"all": 0, "baseline": 1, "genre": 2, "style": 3}
    style = sorted(gold["soundtrack_style_vs_film"], key=lambda r: (order[r["dimension"]], -r["films"], r["value"]))
    _assert_rows(rendered.tables["soundtrack_style_vs_film"], style, "soundtrack_style_vs_film")
    assert rendered.figures["films"] == str(len(gold["film_soundtracks"]))
    assert rendered.lists["findings"] and rendered.lists["findings"] == _ReportParser.of(
        (run_root / "reports" / f"report_{RUN_ID}.html").read_text(encoding="utf-8")).lists["findings"]


CJK_NOTO = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def _missing_glyphs(recorded) -> list[str]:
    # "Glyph N (...) missing from current font." (matplotlib 3.7) / "... from font(s) X." (3.9+)
    return [str(w.message) for w in recorded if re.search(r"Glyph \d+ .*missing from", str(w.message))]


def test_charts_draw_japanese_and_korean_titles(recwarn):
    """Every glyph of CJK titles and names comes from a font (none drawn as a box): matplotlib
    warns "Glyph ... missing from font(s)" for each glyph it cannot draw."""
    if not CJK_NOTO.exists():
        pytest.skip(f"{CJK_NOTO} not installed (apt-get install -y fonts-noto-cjk; .ci/run does it)")
    rows = [{"composer": name, "matched_films": 2, "credited_films": 3}
            for name in ("久石譲", "조영욱", "Jóhann Jóhannsson", "Ennio Morricone")]
    coverage = [{"original_language": title, "films": 12, "soundtrack_share": 0.5, "is_small_group": False}
                for title in ("千と千尋の神隠し", "もののけ姫", "올드보이")]
    with report.chart_fonts():
        uris = [report._png_uri(report.chart_composers(rows)),
                report._png_uri(report._share_bars(coverage, lambda r: r["original_language"], "言語 / 언어"))]
    assert _missing_glyphs(recwarn) == []
    assert all(uri.startswith("data:image/png;base64,") for uri in uris)


def test_a_font_installed_after_matplotlib_listed_the_fonts_is_used(recwarn, monkeypatch):
    """fonts-noto-cjk installed after matplotlib cached its font list (an earlier `make run`, then
    the advice `rebuild_venv.sh` prints): the charts still find it, not boxes."""
    from matplotlib import font_manager

    if not CJK_NOTO.exists():
        pytest.skip(f"{CJK_NOTO} not installed (apt-get install -y fonts-noto-cjk; .ci/run does it)")
    manager = font_manager.fontManager
    # The font list as a cache written before the font was installed.
    monkeypatch.setattr(manager, "ttflist", [f for f in manager.ttflist if "CJK" not in f.name])
    manager._findfont_cached.cache_clear()
    report.register_installed_chart_fonts.cache_clear()
    try:
        with report.chart_fonts():
            report._png_uri(report.chart_composers([{"composer": "久石譲", "matched_films": 1, "credited_films": 1}]))
        assert str(CJK_NOTO) in report.register_installed_chart_fonts()
        assert _missing_glyphs(recwarn) == []
    finally:
        report.register_installed_chart_fonts.cache_clear()
        manager._findfont_cached.cache_clear()


def test_the_font_test_would_see_a_missing_glyph(recwarn):
    """The check above can fail: with DejaVu Sans alone the same title warns."""
    from matplotlib import rc_context

    with rc_context({"font.family": ["DejaVu Sans"]}):
        report._png_uri(report.chart_composers([{"composer": "久石譲", "matched_films": 1, "credited_films": 1}]))
    assert _missing_glyphs(recwarn)
