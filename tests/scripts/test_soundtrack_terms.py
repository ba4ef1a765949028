"""The title wording that makes an album a soundtrack candidate, whatever its Discogs genre."""
import pytest
from lxml import etree

from scripts.discogs_dump import element_is_candidate, is_soundtrack_candidate
from scripts.soundtrack_terms import title_says_soundtrack


@pytest.mark.parametrize("title, expected", [
    ("Heat (Original Motion Picture Soundtrack)", True),
    ("Bait: Music From And Inspired By The Motion Picture", True),
    ("Heat O.S.T.", True),
    ("Heat OST", True),
    ("Heat: The Complete Score", True),
    ("Amélie (Bande Originale Du Film)", True),
    ("Il Deserto dei Tartari - Colonna Sonora Originale", True),
    ("Cidade de Deus (Trilha Sonora Original)", True),
    ("Das Boot (Filmmusik)", True),
    ("君の名は。 オリジナル・サウンドトラック", True),
    ("Ghost Stories", False),          # "ost" inside a word
    ("Lost", False),
    ("Shaft's Big Score!", False),     # plain "score" is not enough
    ("The Score", False),
    ("Boston", False),
    ("", False),
    (None, False),
])
def test_title_says_soundtrack(title, expected):
    assert title_says_soundtrack(title) is expected


def test_predicates_keep_a_soundtrack_filed_under_hip_hop():
    record = {"title": "Bait (Original Motion Picture Soundtrack)", "genres": ["Hip Hop"], "styles": []}
    assert is_soundtrack_candidate(record)
    assert not is_soundtrack_candidate({"title": "Bait", "genres": ["Hip Hop"], "styles": []})
    elem = etree.fromstring("<master id='1'><title>Bait (Original Motion Picture Soundtrack)</title>"
                            "<genres><genre>Hip Hop</genre></genres></master>")
    assert element_is_candidate(elem, frozenset({"Stage & Screen"}), frozenset({"Soundtrack"}))
    plain = etree.fromstring("<master id='2'><title>Bait</title><genres><genre>Hip Hop</genre></genres></master>")
    assert not element_is_candidate(plain, frozenset({"Stage & Screen"}), frozenset({"Soundtrack"}))
