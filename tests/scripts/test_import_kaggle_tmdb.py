"""The Kaggle TMDB 5000 import writes the raw TMDB contract, counting unreadable rows."""
import gzip
import json

import pytest

from scripts import import_kaggle_tmdb as kaggle

HEADER = ("budget,genres,homepage,id,keywords,original_language,original_title,overview,popularity,"
          "production_companies,production_countries,release_date,revenue,runtime,spoken_languages,status,"
          "tagline,title,vote_average,vote_count\n")


def _movies_csv(path, rows):
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_rows_become_movie_bodies_with_credits(tmp_path):
    movies = _movies_csv(tmp_path / "m.csv", [
        '1,"[{""id"": 18, ""name"": ""Drama""}]",,19995,[],en,Amélie,"two\nlines",1.5,[],[],2001-04-25,0,122,[],'
        'Released,,Amélie,7.8,3310\n',
        '1,[],,notanid,[],en,X,,1,[],[],,0,,[],Released,,X,1,1\n',
    ])
    credits = tmp_path / "c.csv"
    credits.write_text('movie_id,title,cast,crew\n19995,Amélie,[],"[{""job"": ""Original Music Composer"", '
                       '""name"": ""Yann Tiersen"", ""id"": 5}]"\n,broken,[],[]\n', encoding="utf-8")
    summary = kaggle.import_csv(movies, tmp_path / "raw", credits)
    assert (summary.rows, summary.written, summary.with_credits, len(summary.bad_rows)) == (2, 1, 1, 1)
    with gzip.open(tmp_path / "raw" / "2017_kaggle_tmdb_5000.jsonl.gz", "rt", encoding="utf-8") as handle:
        bodies = [json.loads(line) for line in handle]
    assert len(bodies) == 1
    body = bodies[0]
    assert (body["id"], body["title"], body["overview"], body["runtime"], body["vote_count"]) == \
        (19995, "Amélie", "two\nlines", 122, 3310)
    assert body["genres"] == [{"id": 18, "name": "Drama"}]
    assert body["credits"]["crew"][0]["name"] == "Yann Tiersen"


def test_cli_exit_codes(tmp_path, capsys):
    assert kaggle.main([str(tmp_path / "missing.csv"), "--out", str(tmp_path)]) == 2
    movies = _movies_csv(tmp_path / "m.csv", ['1,[],,7,[],en,A,,1,[],[],2000-01-01,0,90,[],Released,,A,5,5\n'])
    assert kaggle.main([str(movies), "--out", str(tmp_path / "raw")]) == 0
    assert "imported 1 of 1 films" in capsys.readouterr().out


@pytest.mark.realdata
def test_real_tmdb_5000(shared_data, tmp_path):
    summary = kaggle.import_csv(shared_data / "tmdb_5000" / "tmdb_5000_movies.csv", tmp_path,
                                shared_data / "tmdb_5000" / "tmdb_5000_credits.head198.csv")
    assert (summary.rows, summary.written, summary.bad_rows) == (4803, 4803, [])
    assert summary.with_credits >= 190
