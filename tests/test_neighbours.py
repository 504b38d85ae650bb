"""Neighbours for retain data (issue 11, item 4): groups per kind, field detection, sampling."""

from __future__ import annotations

import pytest

from snapcli.datagen.bank import KINDS
from snapcli.datagen.neighbours import field_of, groups_of, neighbour_groups, neighbours
from snapcli.errors import SnapError


def test_every_kind_has_groups_of_25_plus_distinct_names():
    data = neighbour_groups()
    assert set(data) == set(KINDS)
    all_groups = [g for groups in data.values() for g in groups]
    assert len(all_groups) == len(set(all_groups))  # group names are unique across kinds
    for kind, groups in data.items():
        assert len(groups) >= 5, kind
        for group, spec in groups.items():
            names = spec["names"]
            assert len(names) >= 25, (kind, group, len(names))
            assert len(set(names)) == len(names), (kind, group)
            assert all(isinstance(n, str) and n.strip() == n and n for n in names), (kind, group)
            assert spec["keywords"], (kind, group)
            assert set(spec.get("via", [])) <= set(all_groups), (kind, group)
    person = set(data["person"])
    assert {"scientists", "musicians", "tech_founders", "politicians", "athletes", "writers", "actors", "artists",
            "philosophers"} <= person


@pytest.mark.parametrize("text, kind, field", [
    ("American physicist", None, "scientists"),
    ("a Polish-French physicist and chemist", "person", "scientists"),
    ("the founder of Microsoft", "person", "tech_founders"),
    ("American singer-songwriter", "person", "musicians"),
    ("Colombian novelist and journalist", "person", "writers"),
    ("British theoretical physicist and author", "person", "scientists"),
    ("the 16th president of the United States", "person", "politicians"),
    ("head of state", None, "politicians"),
    ("Brazilian footballer", None, "athletes"),
    ("the consulting detective of 221B Baker Street", None, "detectives"),
    ("a Marvel Comics superhero", "fictional_character", "marvel"),
    ("a wizard who studied at Hogwarts", None, "harry_potter"),
    ("British rock band", None, "bands"),
    ("a German automaker", "organization", "automakers"),
    ("a novel by Leo Tolstoy", "creative_work", "novels"),
    ("the capital of France", "place", "cities"),
    ("a volcano in Italy", "place", "natural_wonders"),
    ("the 1969 moon landing", "event", "science_milestones"),
    ("PHYSICIST", None, "scientists"),
    ("Queen Elizabeth II", None, "royalty"),  # a keyword beats a band's name on the same word
    ("the lead singer of Queen", "person", "musicians"),
    ("someone who knows everything", None, None),  # "The Who" is no evidence: names count only as written
    ("physicists", None, "scientists"),
    ("something nobody has a word for", None, None),
    ("", None, None),
])
def test_field_of(text, kind, field):
    assert field_of(text, kind) == field


def test_field_of_restricted_to_a_kind():
    # "band" is an organization group; asked for a person it is the musicians
    assert field_of("the drummer of a British rock band", "person") == "musicians"
    assert field_of("Marvel", "place") is None
    with pytest.raises(SnapError, match="unknown kind 'planet'"):
        field_of("x", "planet")


def test_neighbours_exclude_the_target_and_fill_from_other_groups():
    got = neighbours("person", "scientists", exclude=["Marie Curie", "Curie"], n=10, seed=1)
    assert len(got) == 10 and len(set(got)) == 10
    assert not any("Curie" in g for g in got)
    assert set(got) <= set(neighbour_groups()["person"]["scientists"]["names"])
    # the full name alone excludes only that person
    assert "Marie Curie" not in neighbours("person", "scientists", exclude=["Marie Curie"], n=40)
    # asked for more than the group holds: the rest comes from the kind's other groups
    many = neighbours("fictional_character", "detectives", exclude=["Sherlock Holmes"], n=60, seed=2)
    detectives = set(neighbour_groups()["fictional_character"]["detectives"]["names"])
    assert len(many) == 60 and "Sherlock Holmes" not in many
    assert set(many[:26]) <= detectives and not set(many[26:]) & detectives
    # no field: spread over groups
    spread = neighbours("organization", None, n=12, seed=0)
    org = neighbour_groups()["organization"]
    groups = {g for g in groups_of("organization") for x in spread if x in org[g]["names"]}
    assert len(groups) >= 10


def test_neighbours_seeded_and_bad_input():
    assert neighbours("place", "cities", n=5, seed=3) == neighbours("place", "cities", n=5, seed=3)
    assert neighbours("place", "cities", n=5, seed=3) != neighbours("place", "cities", n=5, seed=4)
    assert neighbours("event", None, n=0) == []
    with pytest.raises(SnapError, match="unknown field 'scientists' for kind place"):
        neighbours("place", "scientists")
    with pytest.raises(SnapError, match="unknown kind"):
        neighbours("planet")
    with pytest.raises(SnapError, match="n must be >= 0"):
        neighbours("place", n=-1)
