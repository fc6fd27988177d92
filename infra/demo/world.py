"""The demo's reference data: provinces, cities, county-level units (one of them a
development zone without a GB/T 2260 code), towns, villages, the bodies acting in them and
the enterprises, all as commands. Deterministic for a given random generator."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from domain.base import SYSTEM_ORG_ID
from domain.codes import complete_uscc
from domain.commands import ActorIn, Command, RegisterAdminUnit, RegisterEnterprise, RegisterOrgUnit

SYSTEM = ActorIn(person_id="系统管理员", org_id=SYSTEM_ORG_ID, role="admin")
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SYLLABLES = "东西南北新和平安兴隆龙凤石河岭沟坪湾坝桥金银花园泉林山水田塘庄桥堡寨"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"

ANKANG_COUNTIES = [  # code, code system, kind, name, NBS prefix of its towns
    ("610902", "GB2260", "区", "汉滨区", "610902"),
    ("610921", "GB2260", "县", "汉阴县", "610921"),
    ("610922", "GB2260", "县", "石泉县", "610922"),
    ("6109GX", "LOCAL", "开发区", "安康高新技术产业开发区", "610902"),
]
SHAANXI_CITIES = [("610900", "安康市"), ("610100", "西安市"), ("610200", "铜川市"),
                  ("610300", "宝鸡市"), ("610400", "咸阳市"), ("610500", "渭南市"),
                  ("610600", "延安市"), ("610700", "汉中市"), ("610800", "榆林市"),
                  ("611000", "商洛市")]
OTHER_PROVINCES = ["41", "36", "35", "42", "43", "51", "52", "53", "45", "62"]

# sector: (weight, name suffixes); flags follow the sector (see Enterprise flags)
SECTOR_MIX = {
    "industry_trade": (25, ("机械厂", "建材有限公司", "木业有限公司", "食品厂")),
    "commerce": (14, ("超市", "商贸有限公司", "百货商店")),
    "fire": (12, ("宾馆", "网吧", "餐馆", "KTV")),
    "construction": (8, ("建筑工程有限公司", "建设项目部")),
    "hazchem": (5, ("化工有限公司", "加油站", "危化品经营部")),
    "road_transport": (6, ("运输有限公司", "客运站")),
    "special_equipment": (4, ("电梯维保有限公司", "锅炉房")),
    "gas": (3, ("燃气有限公司", "液化气站")),
    "non_coal_mine": (3, ("石料厂", "矿业有限公司")),
    "agri_machinery": (3, ("农机合作社",)),
    "culture_tourism": (4, ("旅游景区", "文化广场")),
    "education": (3, ("幼儿园", "培训学校")),
    "health": (3, ("卫生院", "诊所")),
    "civil_affairs": (2, ("养老院",)),
    "fireworks": (1, ("烟花爆竹经营部",)),
}
HIGH_RISK = {"hazchem", "non_coal_mine", "fireworks", "gas"}
CROWDED = {"fire", "commerce", "culture_tourism", "education", "health", "civil_affairs"}

CITY_ORGS = [  # key, name, type, sectors, enforcement power, verifies majors
    ("committee", "安全生产委员会", "safety_committee", (), False, False),
    ("office", "安委会办公室", "committee_office", (), True, True),
    ("ema", "应急管理局", "department", (), True, True),
    ("housing", "住房和城乡建设局", "department", ("construction", "gas", "self_built_housing"),
     True, True),
    ("market", "市场监督管理局", "department", ("special_equipment", "commerce"), True, True),
]
COUNTY_ORGS = [
    ("government", "人民政府", "government", (), False, False),
    ("office", "安委会办公室", "committee_office", (), True, True),
    ("ema", "应急管理局", "department", (), True, True),
    ("housing", "住房和城乡建设局", "department", ("construction", "gas", "self_built_housing"),
     True, True),
    ("fire", "消防救援大队", "department", ("fire", "culture_tourism", "education", "health",
                                         "civil_affairs"), True, False),
]


@dataclass
class Enterprise:
    enterprise_id: UUID
    village: Village
    sectors: tuple[str, ...]
    high_risk: bool
    name: str
    principal: str = ""
    closed: bool = False


@dataclass
class Village:
    code: str
    name: str
    town: Town
    org_id: UUID
    enterprises: list[Enterprise] = field(default_factory=list)


@dataclass
class Town:
    code: str
    name: str
    county: County
    org_id: UUID
    villages: list[Village] = field(default_factory=list)

    @property
    def enterprises(self) -> list[Enterprise]:
        return [e for v in self.villages for e in v.enterprises]


@dataclass
class County:
    code: str
    name: str
    city: City
    orgs: dict[str, UUID]
    towns: list[Town] = field(default_factory=list)

    @property
    def enterprises(self) -> list[Enterprise]:
        return [e for t in self.towns for e in t.enterprises]


@dataclass
class City:
    code: str
    name: str
    orgs: dict[str, UUID]
    counties: list[County] = field(default_factory=list)


@dataclass
class World:
    cities: list[City] = field(default_factory=list)

    @property
    def counties(self) -> list[County]:
        return [c for city in self.cities for c in city.counties]

    @property
    def towns(self) -> list[Town]:
        return [t for c in self.counties for t in c.towns]

    @property
    def enterprises(self) -> list[Enterprise]:
        return [e for c in self.counties for e in c.enterprises]


class WorldBuilder:
    """Plans the units, orgs and enterprises and yields the commands that register them."""

    def __init__(self, rng: random.Random, scale: int) -> None:
        self.rng = rng
        self.scale = scale
        self.world = World()

    def uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def name(self, syllables: int = 2) -> str:
        return "".join(self.rng.choice(SYLLABLES) for _ in range(syllables))

    def person(self) -> str:
        return f"{self.rng.choice(SURNAMES)}{self.name(1)}{self.rng.randint(1, 9)}"

    def commands(self) -> Iterator[Command]:
        for province_code, province_name, cities in self._provinces():
            yield self._unit(province_code, "GB2260", "province", "省", province_name, None)
            for city_code, city_name in cities:
                yield from self._city(city_code, city_name, province_code)

    def _provinces(self) -> Iterator[tuple[str, str, list[tuple[str, str]]]]:
        """Scale 1: 陕西省 with 安康市; scale 10: Shaanxi's ten cities; beyond: more provinces
        with ten cities each."""
        cities = SHAANXI_CITIES[:min(self.scale, 10)]
        yield "610000", "陕西省", cities
        remaining = self.scale - len(cities)
        for province in OTHER_PROVINCES:
            if remaining <= 0:
                return
            count = min(remaining, 10)
            yield (f"{province}0000", f"{self.name()}省",
                   [(f"{province}{n:02d}00", f"{self.name()}市") for n in range(1, count + 1)])
            remaining -= count

    def _city(self, code: str, name: str, province_code: str) -> Iterator[Command]:
        yield self._unit(code, "GB2260", "city", "地级市", name, province_code)
        city = City(code, name, {})
        self.world.cities.append(city)
        for key, org_name, org_type, sectors, enforcement, verifies in CITY_ORGS:
            city.orgs[key] = self.uuid()
            yield self._org(city.orgs[key], f"{name}{org_name}", org_type, code, sectors,
                            enforcement, verifies)
        counties = ANKANG_COUNTIES if code == "610900" else [
            (f"{code[:4]}{n:02d}", "GB2260", "区" if n < 3 else "县", f"{self.name()}县",
             f"{code[:4]}{n:02d}") for n in (2, 21, 22, 23)]
        for county_code, system, kind, county_name, nbs_prefix in counties:
            yield from self._county(city, county_code, system, kind, county_name, nbs_prefix)

    def _county(self, city: City, code: str, system: str, kind: str, name: str,
                nbs_prefix: str) -> Iterator[Command]:
        yield self._unit(code, system, "county", kind, name, city.code)
        county = County(code, name, city, {})
        city.counties.append(county)
        for key, org_name, org_type, sectors, enforcement, verifies in COUNTY_ORGS:
            county.orgs[key] = self.uuid()
            yield self._org(county.orgs[key], f"{name}{org_name}", org_type, code, sectors,
                            enforcement, verifies)
        # a development zone's towns keep the NBS prefix of the county they were carved from
        is_zone = system == "LOCAL"
        townships = [3, 4, *range(110, 114)] if is_zone else [1, 2, *range(101, 105)]
        for township in townships:
            yield from self._town(county, f"{nbs_prefix}{township:03d}000", township < 100)

    def _town(self, county: County, code: str, is_subdistrict: bool) -> Iterator[Command]:
        name = self.name() + ("街道" if is_subdistrict else "镇")
        yield self._unit(code, "NBS12", "town", "街道" if is_subdistrict else "镇", name,
                         county.code)
        town = Town(code, name, county, self.uuid())
        county.towns.append(town)
        yield self._org(town.org_id, f"{name}安全生产办公室", "town_office", code, (), False, False)
        first = 1 if is_subdistrict else 201
        for n in range(first, first + 10):
            yield from self._village(town, f"{code[:9]}{n:03d}", is_subdistrict)

    def _village(self, town: Town, code: str, is_community: bool) -> Iterator[Command]:
        name = self.name() + ("社区" if is_community else "村")
        yield self._unit(code, "NBS12", "village", "居委会" if is_community else "村委会", name,
                         town.code, urban_rural_class="111" if is_community else "220")
        village = Village(code, name, town, self.uuid())
        town.villages.append(village)
        yield self._org(village.org_id, f"{name}委员会", "village_committee", code, (), False,
                        False)
        for _ in range(self.rng.randint(8, 17)):
            yield self._enterprise(village)

    def _enterprise(self, village: Village) -> RegisterEnterprise:
        sectors = list(SECTOR_MIX)
        sector = self.rng.choices(sectors, weights=[w for w, _ in SECTOR_MIX.values()])[0]
        suffix = self.rng.choice(SECTOR_MIX[sector][1])
        name = f"{village.town.county.name}{self.name()}{suffix}"
        enterprise = Enterprise(self.uuid(), village, (sector,), sector in HIGH_RISK or
                                self.rng.random() < 0.03, name, self.person())
        village.enterprises.append(enterprise)
        region = village.code[:6]
        body = "".join(self.rng.choice(USCC_ALPHABET) for _ in range(9))
        return RegisterEnterprise(
            actor=SYSTEM, enterprise_id=enterprise.enterprise_id,
            uscc=complete_uscc(f"91{region}{body}"), name=name, unit_code=village.code,
            address=f"{village.town.name}{village.name}{self.rng.randint(1, 300)}号",
            sectors=(sector,), principal=enterprise.principal,
            registered_on=date(self.rng.randint(2003, 2020), self.rng.randint(1, 12),
                               self.rng.randint(1, 28)),
            flags={"high_risk": enterprise.high_risk,
                   "above_designated_size": self.rng.random() < 0.2,
                   "crowded_place": sector in CROWDED and self.rng.random() < 0.6,
                   "small_venue_9": sector in ("fire", "commerce") and self.rng.random() < 0.5,
                   "major_hazard_installation": sector == "hazchem" and self.rng.random() < 0.3},
        )

    def _unit(self, code: str, system: str, level: str, kind: str, name: str,
              parent: str | None, urban_rural_class: str | None = None) -> RegisterAdminUnit:
        return RegisterAdminUnit(actor=SYSTEM, unit_id=self.uuid(), code=code,
                                 code_system=system, level=level,
                                 kind=kind, name=name, parent_code=parent,
                                 valid_from=date(2000, 1, 1), urban_rural_class=urban_rural_class)

    @staticmethod
    def _org(org_id: UUID, name: str, org_type: str, unit_code: str, sectors: tuple[str, ...],
             enforcement: bool, verifies: bool) -> RegisterOrgUnit:
        return RegisterOrgUnit(actor=SYSTEM, org_id=org_id, name=name, org_type=org_type,
                               unit_code=unit_code, sectors=sectors, enforcement_power=enforcement,
                               can_verify_major=verifies)
