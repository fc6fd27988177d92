"""The demo's reference data: the province, its cities, county-level units (one of them a
development zone without a GB/T 2260 code), towns, villages, the bodies acting in them, the
persons working there and the enterprises — as the commands a real installation records:
zhibao's bootstrap of the province (`zhibao admin init`), then each administrator
registering the units, bodies and persons below, each lead body granting the bodies below
it their powers, and town officers registering their enterprises. Deterministic for a
given random generator."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from domain.codes import complete_uscc
from domain.commands import (
    Bootstrap,
    Command,
    GrantOrgPower,
    RegisterAdminUnit,
    RegisterEnterprise,
    RegisterOrgUnit,
    RegisterPerson,
)
from infra.intake.unit_of_work import ZHIBAO, Issuer

Issued = tuple[Issuer, Command]
"""A command and the person (or zhibao) who issues it."""
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

ENFORCEMENT, VERIFY_MAJOR = "enforcement_power", "can_verify_major"
CITY_ORGS = [  # key, name, type, sectors, powers, staff (role: how many)
    ("committee", "安全生产委员会", "safety_committee", (), (), {"committee_staff": 1}),
    ("office", "安委会办公室", "committee_office", (), (ENFORCEMENT, VERIFY_MAJOR),
     {"administrator": 1, "committee_staff": 2}),
    ("ema", "应急管理局", "department", (), (ENFORCEMENT, VERIFY_MAJOR),
     {"regulator": 2, "enforcement_officer": 2, "sector_inspector": 1}),
    ("housing", "住房和城乡建设局", "department", ("construction", "gas", "self_built_housing"),
     (ENFORCEMENT, VERIFY_MAJOR), {"regulator": 1, "sector_inspector": 1}),
    ("market", "市场监督管理局", "department", ("special_equipment", "commerce"),
     (ENFORCEMENT, VERIFY_MAJOR), {"regulator": 1, "sector_inspector": 1}),
]
COUNTY_ORGS = [
    ("government", "人民政府", "government", (), (), {"committee_staff": 1}),
    ("office", "安委会办公室", "committee_office", (), (ENFORCEMENT, VERIFY_MAJOR),
     {"committee_staff": 2}),
    ("ema", "应急管理局", "department", (), (ENFORCEMENT, VERIFY_MAJOR),
     {"regulator": 2, "enforcement_officer": 2, "sector_inspector": 1}),
    ("housing", "住房和城乡建设局", "department", ("construction", "gas", "self_built_housing"),
     (ENFORCEMENT, VERIFY_MAJOR), {"regulator": 1, "sector_inspector": 1}),
    ("fire", "消防救援大队", "department", ("fire", "culture_tourism", "education", "health",
                                         "civil_affairs"), (ENFORCEMENT,),
     {"regulator": 1, "sector_inspector": 2}),
]
TOWN_STAFF = {"town_officer": 2}
VILLAGE_STAFF = {"grid_worker": 1}


@dataclass
class Body:
    """An org of the simulated province and its staff, by role."""

    org_id: UUID
    staff: dict[str, list[UUID]] = field(default_factory=dict)

    def someone(self, rng: random.Random, role: str) -> Issuer:
        return Issuer(rng.choice(self.staff[role]))


@dataclass
class Enterprise:
    enterprise_id: UUID
    village: Village
    sectors: tuple[str, ...]
    high_risk: bool
    name: str
    principal: str
    principal_id: UUID
    closed: bool = False

    @property
    def principal_issuer(self) -> Issuer:
        return Issuer(self.principal_id)


@dataclass
class Village:
    code: str
    name: str
    town: Town
    committee: Body
    enterprises: list[Enterprise] = field(default_factory=list)


@dataclass
class Town:
    code: str
    name: str
    county: County
    office: Body
    villages: list[Village] = field(default_factory=list)

    @property
    def enterprises(self) -> list[Enterprise]:
        return [e for v in self.villages for e in v.enterprises]


@dataclass
class County:
    code: str
    name: str
    city: City
    orgs: dict[str, Body]
    towns: list[Town] = field(default_factory=list)

    @property
    def enterprises(self) -> list[Enterprise]:
        return [e for t in self.towns for e in t.enterprises]


@dataclass
class City:
    code: str
    name: str
    orgs: dict[str, Body]
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


@dataclass(frozen=True)
class Shape:
    """How many units sit under each unit of the level above. The demo's city is small
    enough to read (4 county-level units × 6 towns × 10 villages: 148k events a year); a real
    Shaanxi city has about 10 county-level units, a county 8 towns, a town 20 villages —
    `PROVINCE_SHAPE`, which at Shaanxi's ten cities makes the 8.3M-event province-year
    (16,911 units) the province benchmark measures."""

    counties: int = 4
    towns: int = 6
    villages: int = 10


DEMO_SHAPE = Shape()
PROVINCE_SHAPE = Shape(counties=10, towns=8, villages=20)
SHAPES = {"demo": DEMO_SHAPE, "province": PROVINCE_SHAPE}


class WorldBuilder:
    """Plans the units, orgs, persons and enterprises and yields the commands that register
    them, each with who issues it."""

    def __init__(self, rng: random.Random, scale: int, shape: Shape = DEMO_SHAPE) -> None:
        self.rng = rng
        self.scale = scale
        self.shape = shape
        self.world = World()
        self.province = Body(self.uuid())
        self.admin = Issuer(self.uuid())  # the bootstrap's first administrator
        self.granter = Issuer(self.uuid())  # the province 安委办's committee staff

    def uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def name(self, syllables: int = 2) -> str:
        return "".join(self.rng.choice(SYLLABLES) for _ in range(syllables))

    def person(self) -> str:
        return f"{self.rng.choice(SURNAMES)}{self.name(1)}{self.rng.randint(1, 9)}"

    def commands(self) -> Iterator[Issued]:
        """Scale 1: 陕西省 with 安康市; scale 10: Shaanxi's ten cities."""
        yield ZHIBAO, Bootstrap(
            unit_id=self.uuid(), unit_code="610000", code_system="GB2260", level="province",
            kind="省", unit_name="陕西省", valid_from=date(2000, 1, 1),
            org_id=self.province.org_id, org_name="陕西省安全生产委员会办公室",
            person_id=self.admin.person_id, person_name=self.person())
        yield self.admin, RegisterPerson(person_id=self.granter.person_id, name=self.person(),
                                         org_id=self.province.org_id,
                                         roles=("committee_staff",))
        for city_code, city_name in SHAANXI_CITIES[:self.scale]:
            yield from self._city(city_code, city_name)

    def _city(self, code: str, name: str) -> Iterator[Issued]:
        yield self.admin, self._unit(code, "GB2260", "city", "地级市", name, "610000")
        city = City(code, name, {})
        self.world.cities.append(city)
        for key, org_name, org_type, sectors, _, staff in CITY_ORGS:
            city.orgs[key] = body = Body(self.uuid())
            yield self.admin, self._org(body, f"{name}{org_name}", org_type, code, sectors)
            yield from self._staff(self.admin, body, staff)
        admin = city.orgs["office"].someone(self.rng, "administrator")
        granter = city.orgs["office"].someone(self.rng, "committee_staff")
        yield from self._grant(self.granter, granter, city.orgs, CITY_ORGS)
        counties = self._counties(code)
        for county_code, system, kind, county_name, nbs_prefix in counties:
            yield from self._county(city, admin, granter, county_code, system, kind,
                                    county_name, nbs_prefix)

    def _counties(self, city_code: str) -> list[tuple[str, str, str, str, str]]:
        """Ankang's four real county-level units, the other cities' generated (a district,
        then counties); a larger shape adds generated counties after Ankang's."""
        real = ANKANG_COUNTIES if city_code == "610900" else []
        taken = {code[4:] for code, *_ in real}
        numbers = [n for n in (2, *range(21, 100)) if f"{n:02d}" not in taken]
        return real + [(f"{city_code[:4]}{n:02d}", "GB2260", "区" if n < 3 else "县",
                        f"{self.name()}县", f"{city_code[:4]}{n:02d}")
                       for n in numbers[:self.shape.counties - len(real)]]

    def _county(self, city: City, admin: Issuer, granter: Issuer, code: str, system: str,
                kind: str, name: str, nbs_prefix: str) -> Iterator[Issued]:
        yield admin, self._unit(code, system, "county", kind, name, city.code)
        county = County(code, name, city, {})
        city.counties.append(county)
        for key, org_name, org_type, sectors, _, staff in COUNTY_ORGS:
            county.orgs[key] = body = Body(self.uuid())
            yield admin, self._org(body, f"{name}{org_name}", org_type, code, sectors)
            yield from self._staff(admin, body, staff)
        yield from self._grant(granter, county.orgs["office"].someone(self.rng, "committee_staff"),
                               county.orgs, COUNTY_ORGS)
        # a development zone's towns keep the NBS prefix of the county they were carved from
        is_zone = system == "LOCAL"
        townships = ([3, 4, *range(110, 108 + self.shape.towns)] if is_zone
                     else [1, 2, *range(101, 99 + self.shape.towns)])
        for township in townships:
            yield from self._town(admin, county, f"{nbs_prefix}{township:03d}000",
                                  township < 100)

    def _town(self, admin: Issuer, county: County, code: str,
              is_subdistrict: bool) -> Iterator[Issued]:
        name = self.name() + ("街道" if is_subdistrict else "镇")
        yield admin, self._unit(code, "NBS12", "town", "街道" if is_subdistrict else "镇", name,
                                county.code)
        town = Town(code, name, county, Body(self.uuid()))
        county.towns.append(town)
        yield admin, self._org(town.office, f"{name}安全生产办公室", "town_office", code, ())
        yield from self._staff(admin, town.office, TOWN_STAFF)
        first = 1 if is_subdistrict else 201
        for n in range(first, first + self.shape.villages):
            yield from self._village(admin, town, f"{code[:9]}{n:03d}", is_subdistrict)

    def _village(self, admin: Issuer, town: Town, code: str,
                 is_community: bool) -> Iterator[Issued]:
        name = self.name() + ("社区" if is_community else "村")
        yield admin, self._unit(code, "NBS12", "village", "居委会" if is_community else "村委会",
                                name, town.code, urban_rural_class="111" if is_community
                                else "220")
        village = Village(code, name, town, Body(self.uuid()))
        town.villages.append(village)
        yield admin, self._org(village.committee, f"{name}委员会", "village_committee", code, ())
        yield from self._staff(admin, village.committee, VILLAGE_STAFF)
        for _ in range(self.rng.randint(8, 17)):
            yield from self._enterprise(admin, village)

    def _enterprise(self, admin: Issuer, village: Village) -> Iterator[Issued]:
        sectors = list(SECTOR_MIX)
        sector = self.rng.choices(sectors, weights=[w for w, _ in SECTOR_MIX.values()])[0]
        suffix = self.rng.choice(SECTOR_MIX[sector][1])
        name = f"{village.town.county.name}{self.name()}{suffix}"
        enterprise = Enterprise(self.uuid(), village, (sector,), sector in HIGH_RISK or
                                self.rng.random() < 0.03, name, self.person(), self.uuid())
        village.enterprises.append(enterprise)
        region = village.code[:6]
        body = "".join(self.rng.choice(USCC_ALPHABET) for _ in range(9))
        yield village.town.office.someone(self.rng, "town_officer"), RegisterEnterprise(
            enterprise_id=enterprise.enterprise_id,
            uscc=complete_uscc(f"91{region}{body}"), name=name, unit_code=village.code,
            address=f"{village.town.name}{village.name}{self.rng.randint(1, 300)}号",
            sectors=(sector,), principal=enterprise.principal,
            registered_on=date(self.rng.randint(2002, 2019), self.rng.randint(1, 12),
                               self.rng.randint(1, 28)),
            flags={"high_risk": enterprise.high_risk,
                   "above_designated_size": self.rng.random() < 0.2,
                   "crowded_place": sector in CROWDED and self.rng.random() < 0.6,
                   "small_venue_9": sector in ("fire", "commerce") and self.rng.random() < 0.5,
                   "major_hazard_installation": sector == "hazchem" and self.rng.random() < 0.3},
        )
        yield admin, RegisterPerson(person_id=enterprise.principal_id, name=enterprise.principal,
                                    org_id=enterprise.enterprise_id,
                                    roles=("enterprise_principal",))

    def _staff(self, admin: Issuer, body: Body, staff: dict[str, int]) -> Iterator[Issued]:
        """The org's persons, one role each."""
        for role, count in staff.items():
            for _ in range(count):
                person_id = self.uuid()
                body.staff.setdefault(role, []).append(person_id)
                yield admin, RegisterPerson(person_id=person_id, name=self.person(),
                                            org_id=body.org_id, roles=(role,))

    @staticmethod
    def _grant(from_above: Issuer, office: Issuer, bodies: dict[str, Body],
               plan: list[Any]) -> Iterator[Issued]:
        """Powers flow down: the 安委办 receives its own from the lead body above, then
        grants the bodies of its level theirs."""
        powers = {key: held for key, _, _, _, held, _ in plan}
        for power in powers["office"]:
            yield from_above, GrantOrgPower(org_id=bodies["office"].org_id, power=power)
        for key, held in powers.items():
            for power in held if key != "office" else ():
                yield office, GrantOrgPower(org_id=bodies[key].org_id, power=power)

    def _unit(self, code: str, system: str, level: str, kind: str, name: str,
              parent: str | None, urban_rural_class: str | None = None) -> RegisterAdminUnit:
        return RegisterAdminUnit(unit_id=self.uuid(), code=code, code_system=system, level=level,
                                 kind=kind, name=name, parent_code=parent,
                                 valid_from=date(2000, 1, 1), urban_rural_class=urban_rural_class)

    @staticmethod
    def _org(body: Body, name: str, org_type: str, unit_code: str,
             sectors: tuple[str, ...]) -> RegisterOrgUnit:
        return RegisterOrgUnit(org_id=body.org_id, name=name, org_type=org_type,
                               unit_code=unit_code, sectors=sectors)
