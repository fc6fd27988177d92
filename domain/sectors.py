"""Sectors (行业领域), the 条 line of reporting. A starting catalogue from DOMAIN.md §10;
codes are ours, names are the ones used in the notices."""

from __future__ import annotations

from domain.base import DomainError

SECTORS: dict[str, str] = {
    "hazchem": "危险化学品",
    "coal": "煤矿",
    "non_coal_mine": "非煤矿山",
    "fireworks": "烟花爆竹",
    "civil_explosives": "民用爆炸物品",
    "fire": "消防",
    "road_transport": "道路运输",
    "transport_other": "交通运输(水上、铁路、民航、邮政、轨道)",
    "fishing_vessels": "渔业船舶",
    "construction": "建筑施工",
    "gas": "城镇燃气",
    "industry_trade": "工贸",
    "special_equipment": "特种设备",
    "industrial_parks": "工业园区等功能区",
    "hazardous_waste": "危险废物",
    "urban_management": "城市建设/城市管理",
    "culture_tourism": "文化旅游",
    "education": "教育",
    "health": "卫生健康",
    "civil_affairs": "民政",
    "commerce": "商务",
    "agri_machinery": "农业机械",
    "rural_safety": "农村安全",
    "self_built_housing": "经营性自建房",
    "power": "电力",
    "water": "水利",
    "pipelines": "油气长输管道",
    "forest_fire": "森林防火",
    "ecology": "生态环境",
}


def require_sector(field: str, code: str) -> None:
    if code not in SECTORS:
        raise DomainError(field, f"unknown sector {code!r}; known: {', '.join(SECTORS)}", "INPUT")
