"""The one unit-tree walk every stage uses (`domain/unit_tree.py`), in memory."""

from __future__ import annotations

from dataclasses import dataclass

from domain.base import Level
from domain.unit_tree import ancestry, county_of, location, stream_code


@dataclass(frozen=True)
class U:
    name: str
    level: Level
    parent_id: str | None
    registered_code: str


UNITS = {
    "sx": U("陕西省", Level.PROVINCE, None, "610000"),
    "ak": U("安康市", Level.CITY, "sx", "610900"),
    "hb": U("汉滨区", Level.COUNTY, "ak", "610902"),  # recoded since: still named 610902
    "gm": U("关庙镇", Level.TOWN, "hb", "610902101000"),
    "yc": U("一村", Level.VILLAGE, "gm", "610902101201"),
    "xz": U("新镇", Level.TOWN, "ak", "610900101000"),  # a town directly under the city
}


def test_a_village_belongs_to_its_county_named_by_its_registered_code():
    names = ["一村", "关庙镇", "汉滨区", "安康市", "陕西省"]
    assert [u.name for u in ancestry(UNITS, "yc")] == names
    assert county_of(UNITS, "yc") is UNITS["hb"]
    assert stream_code(UNITS, "yc") == stream_code(UNITS, "hb") == "610902"


def test_above_county_level_a_unit_is_its_own_stream_and_a_town_under_a_city_the_citys():
    assert stream_code(UNITS, "ak") == "610900"
    assert stream_code(UNITS, "sx") == "610000"
    assert stream_code(UNITS, "xz") == "610900"


def test_a_unit_outside_the_tree_has_no_stream():
    assert stream_code(UNITS, "nowhere") is None
    assert stream_code(UNITS, None) is None
    assert list(ancestry(UNITS, "nowhere")) == []


def test_the_location_runs_from_the_county_down():
    assert [u.name for u in location(UNITS, "yc")] == ["汉滨区", "关庙镇", "一村"]
    assert [u.name for u in location(UNITS, "xz")] == ["新镇"]
    assert location(UNITS, "ak") == []
