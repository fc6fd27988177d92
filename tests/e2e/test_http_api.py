"""The HTTP API against a real `zhibao serve` on a loopback port, on SQLite and PostgreSQL:
the permission matrix over HTTP, 401 and 403 with nothing written, revoked and expired
tokens, single sign-on JWTs, idempotent replays, concurrent requests each answered as if
alone, a JSONL batch with bad lines, the views, submissions and audit — the same rules and
errors as the command line."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4, uuid5

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from domain.base import SHANGHAI
from infra.http.credentials import SCOPES, Credentials
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import COMMAND_ID_NAMESPACE
from infra.settings import Settings
from tests.support.builders import World, build_world
from tests.support.server import Server, event_count, serving

ALL = tuple(SCOPES)
ISSUER, AUDIENCE = "https://sso.shaanxi.example", "zhibao"


@dataclass
class Front:
    server: Server
    world: World
    tokens: dict[str, str]
    sso_key: RSAKey

    def events(self) -> int:
        return event_count(self.server.database_url)

    def as_(self, name: str) -> Any:
        return self.server.client(self.tokens[name])

    def jwt(self, person: UUID, key: RSAKey | None = None, **claims: Any) -> str:
        body = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300,
                "zhibao_person": str(person), **claims}
        return jwt.encode({"alg": "RS256", "kid": "sso"}, body, key or self.sso_key)


@pytest.fixture(scope="module")
def front(module_database_url: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Front]:
    tmp = tmp_path_factory.mktemp("front")
    app = Zhibao(Settings(database_url=module_database_url, audit_signing_key=None))
    world = build_world(app)
    world.persons["auditor"] = world.person("county_gov", "auditor", name="审计员")
    credentials = Credentials(app)
    tokens = {name: credentials.issue_token(world.persons[name], ALL, 30).secret
              for name in ("village", "town", "other_town", "county_ema", "auditor", "chem")}
    tokens["village_read"] = credentials.issue_token(world.persons["village"], ("read",),
                                                     30).secret
    revoked = credentials.issue_token(world.persons["village"], ALL, 30)
    credentials.revoke(revoked.credential_id, "left the county IT project")
    tokens["revoked"] = revoked.secret
    credentials.close()
    app.clock = lambda: datetime.now(SHANGHAI) - timedelta(days=3)  # issued 3 days ago
    past = Credentials(app)
    tokens["expired"] = past.issue_token(world.persons["village"], ALL, 1).secret
    past.close()
    app.close()
    sso_key = RSAKey.generate_key(2048, parameters={"kid": "sso"}, private=True)
    jwks = tmp / "jwks.json"
    jwks.write_bytes(orjson.dumps(KeySet([sso_key]).as_dict(private=False)))
    with serving(module_database_url, tmp, ZHIBAO_HTTP_OIDC_ISSUER=ISSUER,
                 ZHIBAO_HTTP_OIDC_AUDIENCE=AUDIENCE, ZHIBAO_HTTP_OIDC_JWKS=str(jwks),
                 ZHIBAO_HTTP_MAX_BATCH_LINES="10") as server:
        yield Front(server, world, tokens, sso_key)


def hazard(front: Front, enterprise: str = "chem", **fields: Any) -> dict[str, Any]:
    return {"command": "ReportHazard", "enterprise_id": str(front.world.enterprises[enterprise]),
            "channel": "photo_report", "discovered_at": "2021-03-01T10:00",
            "description": "消防通道堵塞", "category": "unsafe_condition", **fields}


def refused(front: Front, client: Any, body: dict[str, Any], status: int) -> dict[str, Any]:
    """POST a command that must be refused with `status`; check nothing was written."""
    before = front.events()
    response = client.post("/api/v1/commands", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert front.events() == before, "a refused request wrote"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status and problem["detail"]
    return problem


def test_the_permission_matrix_holds_over_http(front: Front) -> None:
    reported = front.as_("village").post("/api/v1/commands", json=hazard(front))
    assert reported.status_code == 201, reported.text
    hazard_id = reported.json()["aggregate_id"]
    confirm = {"command": "ConfirmHazard", "hazard_id": hazard_id, "grade": "general",
               "treatment": "deadline", "deadline": "2021-03-20"}

    assert refused(front, front.as_("village"), confirm, 403)["code"] == "AUTH-ROLE"
    assert refused(front, front.as_("auditor"), hazard(front), 403)["code"] == "AUTH-ROLE"
    assert refused(front, front.as_("other_town"), confirm, 403)["code"] == "V7"
    internal = {"command": "SubmitReport", "unit_code": "610902101201", "period": "2021-03"}
    assert refused(front, front.as_("town"), internal, 403)["code"] == "SYSTEM-ONLY"
    assert refused(front, front.as_("village_read"), hazard(front), 403)["code"] == "SCOPE"

    confirmed = front.as_("town").post("/api/v1/commands", json=confirm)
    assert confirmed.status_code == 201, confirmed.text


def test_without_a_valid_credential_nothing_is_written(front: Front) -> None:
    anonymous = front.server.client()
    for client in (anonymous, front.server.client("zb_not-a-token"),
                   front.server.client(f"zb_{uuid4().hex}_guess"),
                   front.as_("revoked"), front.as_("expired")):
        problem = refused(front, client, hazard(front), 401)
        assert problem["field"] == "authorization"
    assert front.as_("revoked").get("/api/v1/me").json()["rule"] == "revoked"
    assert front.as_("expired").get("/api/v1/me").json()["rule"] == "expired"
    assert anonymous.get("/api/v1/units/610900").status_code == 401


def test_a_body_naming_its_actor_is_refused(front: Front) -> None:
    body = hazard(front, actor=str(front.world.persons["county_ema"]))
    assert refused(front, front.as_("village"), body, 403)["field"] == "actor"


def test_errors_name_the_field_and_the_rule(front: Front) -> None:
    hazard_id = front.as_("village").post("/api/v1/commands", json=hazard(front)).json()[
        "aggregate_id"]
    problem = refused(front, front.as_("town"), {
        "command": "ConfirmHazard", "hazard_id": hazard_id, "grade": "general",
        "treatment": "deadline", "deadline": "2021-02-01"}, 422)
    assert problem["field"] == "deadline"
    assert "2021-02-01" in problem["rule"]
    assert refused(front, front.as_("village"), {"command": "NoSuchThing"}, 422)["field"] == \
        "command"
    before = front.events()
    broken = front.as_("village").post("/api/v1/commands", content=b"{not json",
                                       headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["field"] == "command"
    assert front.events() == before


def test_a_replay_with_the_same_idempotency_key_is_applied_once(front: Front) -> None:
    client, key = front.as_("village"), f"http-replay-{uuid4()}"
    first = client.post("/api/v1/commands", json=hazard(front), headers={"Idempotency-Key": key})
    after_first = front.events()
    again = client.post("/api/v1/commands", json=hazard(front), headers={"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] and again.json()["aggregate_id"] == \
        first.json()["aggregate_id"]
    assert front.events() == after_first
    other = client.post("/api/v1/commands", json=hazard(front, description="另一处"),
                        headers={"Idempotency-Key": key})
    assert other.status_code == 422 and other.json()["code"] == "V11"
    assert front.events() == after_first


def test_an_idempotency_key_outside_its_bounds_is_refused_and_documented(front: Front) -> None:
    """The lean route (`CommandRoute`) checks the header as the documented route declares
    it: 1 to 200 characters, else a problem naming it, nothing written."""
    before = front.events()
    for key in ("", "k" * 201):
        answer = front.as_("village").post("/api/v1/commands", json=hazard(front),
                                           headers={"Idempotency-Key": key})
        assert answer.status_code == 422 and answer.json()["field"] == "idempotency-key"
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["x-frame-options"] == "DENY"
    assert front.events() == before
    document = front.as_("village").get("/api/v1/openapi.json").json()
    post = document["paths"]["/api/v1/commands"]["post"]
    assert {"in": "header", "name": "idempotency-key"}.items() <= post["parameters"][0].items()
    assert {"201", "401", "403", "422"} <= set(post["responses"])


def test_concurrent_requests_each_get_their_own_outcome(front: Front) -> None:
    """Requests sent at once may be written together (group commit; how many share a
    transaction depends on timing — tests/integration/test_group_commit.py groups them
    every time), yet each is answered as it would be alone: applied, a replay, or refused
    with its own field and rule — and a refused one leaves nothing."""
    hazard_id = front.as_("village").post("/api/v1/commands", json=hazard(front)).json()[
        "aggregate_id"]
    early = f"http-early-{uuid4()}"
    first = front.as_("village").post("/api/v1/commands", json=hazard(front),
                                      headers={"Idempotency-Key": early})
    assert first.status_code == 201
    late_deadline = {"command": "ConfirmHazard", "hazard_id": hazard_id, "grade": "general",
                     "treatment": "deadline", "deadline": "2021-02-01"}
    kinds: dict[str, tuple[str, dict[str, Any], str | None]] = {  # who, body, key
        "valid": ("village", hazard(front), None),
        "bad channel": ("village", hazard(front, channel="x"), None),
        "not theirs": ("village", hazard(front, enterprise="mine"), None),
        "past deadline": ("town", late_deadline, None),
        "no role": ("auditor", hazard(front), None),
        "replay": ("village", hazard(front), early),
        "key reused": ("village", hazard(front, description="另一处"), early)}
    alone = {}  # each refusal as a request sent alone gets it: status, field, code
    for kind, (who, body, key) in kinds.items():
        if kind not in ("valid", "replay"):
            status, problem = _post(front, who, body, key or f"http-alone-{uuid4()}")
            alone[kind] = (status, problem["field"], problem["code"])
    sent = [(kind, who, body, key or f"http-burst-{uuid4()}")
            for _ in range(4) for kind, (who, body, key) in kinds.items()]
    twin = f"http-twin-{uuid4()}"  # the same new command twice in one burst: one applies it
    sent += [("twin", "village", hazard(front), twin)] * 2
    before = front.events()
    start = threading.Barrier(len(sent))

    def post(who: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
        start.wait()
        return _post(front, who, body, key)

    with ThreadPoolExecutor(len(sent)) as pool:
        answers = list(pool.map(lambda s: post(*s[1:]), sent))

    written, refused_ids = 0, []
    for (kind, _, _, key), (status, body) in zip(sent, answers, strict=True):
        if kind in alone:  # refused as when sent alone, and its aggregate never made
            assert (status, body["field"], body["code"]) == alone[kind], (kind, body)
            if kind != "key reused":
                refused_ids.append(uuid5(COMMAND_ID_NAMESPACE, key))
        elif kind == "replay":
            assert status == 200 and body["duplicate"], body
            assert body["aggregate_id"] == first.json()["aggregate_id"]
        elif kind == "valid":
            assert status == 201 and not body["duplicate"], body
            assert body["aggregate_id"] == str(uuid5(COMMAND_ID_NAMESPACE, key))
            written += body["events"]
    twins = sorted((status, body["aggregate_id"]) for (kind, *_), (status, body)
                   in zip(sent, answers, strict=True) if kind == "twin")
    assert [status for status, _ in twins] == [200, 201]
    assert twins[0][1] == twins[1][1] == str(uuid5(COMMAND_ID_NAMESPACE, twin))
    written += 1
    assert {s[0] for s in alone.values()} == {403, 422}
    assert front.events() == before + written
    app = Zhibao(Settings(database_url=front.server.database_url, audit_signing_key=None))
    try:
        assert not [i for i in refused_ids if list(app.recorder.select_events(i, limit=1))]
    finally:
        app.close()


def _post(front: Front, who: str, body: dict[str, Any], key: str
          ) -> tuple[int, dict[str, Any]]:
    """A command sent with an Idempotency-Key: its status and answer."""
    with front.as_(who) as client:
        response = client.post("/api/v1/commands", json=body, headers={"Idempotency-Key": key})
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    answer: dict[str, Any] = response.json()
    return response.status_code, answer


def test_a_jsonl_batch_answers_each_line(front: Front) -> None:
    lines = [orjson.dumps(hazard(front)), b"{broken", orjson.dumps(hazard(front, channel="x")),
             b"", orjson.dumps(hazard(front, enterprise="mine"))]
    before = front.events()
    response = front.as_("village").post("/api/v1/commands/batch", content=b"\n".join(lines),
                                         headers={"content-type": "application/x-ndjson"})
    assert response.status_code == 200
    results = [orjson.loads(line) for line in response.content.splitlines()]
    assert [(r["line"], r["status"]) for r in results] == [
        (1, "applied"), (2, "rejected"), (3, "rejected"), (5, "rejected")]
    assert results[1]["field"] == "command" and results[2]["field"] == "channel"
    assert results[3]["rule"].endswith("jurisdiction of org " + str(
        front.world.orgs["village"])) or "jurisdiction" in results[3]["rule"]
    assert front.events() == before + 1
    too_many = b"\n".join([orjson.dumps(hazard(front))] * 11)
    assert front.as_("village").post("/api/v1/commands/batch", content=too_many).status_code \
        == 413
    assert front.events() == before + 1


def test_a_body_above_the_event_bound_is_refused_unread(front: Front) -> None:
    body = hazard(front, description="长" * 300_000)
    assert refused(front, front.as_("village"), body, 413)["field"] == "body"


def test_single_sign_on_maps_a_claim_to_a_registered_person(front: Front) -> None:
    person = front.world.persons["town"]
    me = front.server.client(front.jwt(person)).get("/api/v1/me")
    assert me.status_code == 200 and me.json()["person_id"] == str(person)
    other_key = RSAKey.generate_key(2048, parameters={"kid": "sso"}, private=True)
    for token in (front.jwt(person, iss="https://elsewhere.example"),
                  front.jwt(person, exp=int(time.time()) - 10),
                  front.jwt(person, key=other_key), front.jwt(uuid4())):
        refused(front, front.server.client(token), hazard(front), 401)


def test_the_directory_finds_every_id_within_jurisdiction(front: Front) -> None:
    county = front.as_("county_ema")
    tree = county.get("/api/v1/units/610902", params={"depth": 2}).json()
    assert [t["code"] for t in tree["children"]] == ["610902101000", "610902102000"]
    assert tree["children"][0]["children"][0]["code"] == "610902101201"
    assert county.get("/api/v1/units/610921").status_code == 403
    orgs = county.get("/api/v1/units/610902101000/orgs").json()
    assert {o["name"] for o in orgs} == {"town"}
    found = county.get("/api/v1/enterprises", params={"q": "chem"}).json()
    assert [e["enterprise_id"] for e in found] == [str(front.world.enterprises["chem"])]
    assert front.as_("other_town").get("/api/v1/enterprises", params={"q": "chem"}).json() == []
    persons = front.as_("town").get("/api/v1/persons").json()
    assert [p["person_id"] for p in persons] == [str(front.world.persons["town"])]


def test_views_submissions_and_audit(front: Front) -> None:
    village = front.as_("village")
    hazard_id = [village.post("/api/v1/commands", json=hazard(front)).json()["aggregate_id"]
                 for _ in range(3)][-1]
    generated = village.post("/api/v1/units/610902101201/submissions/2021-03")
    assert generated.status_code == 201, generated.text
    version = generated.json()["version"]
    document = orjson.loads(village.get(
        f"/api/v1/units/610902101201/submissions/2021-03/{version}.json").content)
    figures = village.get("/api/v1/units/610902101201/figures",
                          params={"period": "2021-03"}).json()
    assert figures["statistics"] == document["statistics"]
    red = figures["risk_points"]["red"]
    assert village.post("/api/v1/commands", json={
        "command": "IdentifyRiskPoint", "enterprise_id": str(front.world.enterprises["chem"]),
        "description": "液氨储罐区", "likelihood": 4, "severity": 5, "level": "red",
        "identified_on": "2021-03-02"}).status_code == 201
    county = front.as_("county_ema").get("/api/v1/units/610902/figures",
                                          params={"period": "2021-03"}).json()
    assert county["risk_points"]["red"] == red + 1
    workbook = village.get(f"/api/v1/units/610902101201/submissions/2021-03/{version}.xlsx")
    assert workbook.content[:2] == b"PK"

    listed = village.get("/api/v1/units/610902101201/hazards",
                         params={"period": "2021-03", "limit": 2}).json()
    assert len(listed["hazards"]) == 2 and listed["next"] == 2
    following = village.get("/api/v1/units/610902101201/hazards",
                            params={"period": "2021-03", "limit": 2, "cursor": 2}).json()
    assert {h["hazard_id"] for h in following["hazards"]}.isdisjoint(
        h["hazard_id"] for h in listed["hazards"])
    reported = village.get("/api/v1/units/610902101201/hazards",
                           params={"period": "2021-03", "state": "reported",
                                   "limit": 500}).json()["hazards"]
    assert hazard_id in {h["hazard_id"] for h in reported}

    timeline = village.get(f"/api/v1/hazards/{hazard_id}").json()["timeline"]
    assert timeline[0]["event"] == "HazardReported"
    assert timeline[0]["occurred_at"].startswith("2021-03-01T10:00")
    assert timeline[0]["recorded_at"] > timeline[0]["occurred_at"]
    assert timeline[0]["who"]["role"] == "grid_worker"
    assert front.as_("other_town").get(f"/api/v1/hazards/{hazard_id}").status_code == 403
    own = front.as_("chem").get("/api/v1/units/610902101201/hazards",
                                params={"period": "2021-03", "limit": 500}).json()["hazards"]
    assert own and {h["enterprise"] for h in own} == {"chem"}
    assert front.as_("chem").get(f"/api/v1/hazards/{hazard_id}").status_code == 200
    assert front.as_("chem").get("/api/v1/units/610902101201/figures").status_code == 403

    versions = village.get("/api/v1/units/610902101201/submissions/2021-03").json()
    assert versions[-1]["sha256"] == generated.json()["sha256"]
    village.post("/api/v1/commands", json=hazard(front))
    amended = village.post("/api/v1/units/610902101201/submissions/2021-03").json()
    assert amended["version"] == version + 1
    changes = village.get("/api/v1/units/610902101201/submissions/2021-03/diff",
                          params={"from": version, "to": version + 1}).json()
    found = {(f["code"], f["column"]): (f["old"], f["new"]) for f in changes["figures"]}
    old, new = found[("B1", "month")]
    assert int(new) == int(old) + 1
    assert {"list": "hazard_list", "added": 1, "removed": 0, "changed": 0} in changes["rows"]
    town = front.as_("town").get("/api/v1/units/610902101000/children",
                                 params={"period": "2021-03"}).json()
    assert {c["unit_code"]: c["status"] for c in town}["610902101201"] == "late"  # 迟报
    known = front.as_("auditor").get("/api/v1/audit/submissions/610902101201/2021-03",
                                     params={"known_at": datetime.now(SHANGHAI).isoformat()})
    assert known.status_code == 200 and known.json()["recorded_version"] == version + 1
    assert front.as_("auditor").get("/api/v1/audit/checkpoints").status_code == 200


def test_credentials_are_events_without_their_secrets(front: Front, tmp_path: Path) -> None:
    app = Zhibao(Settings(database_url=front.server.database_url, audit_signing_key=None))
    try:
        stored = [n for n in app.recorder.select_notifications(start=None, limit=100_000)
                  if "Credential" in n.topic or "SignIn" in n.topic]
    finally:
        app.close()
    kinds = {n.topic.rpartition(".")[2] for n in stored}
    assert {"CredentialIssued", "CredentialRevoked"} <= kinds
    for token in front.tokens.values():
        secret = token.split("_", 2)[2].encode()  # zb_<credential id>_<secret>
        assert not any(secret in n.state for n in stored)


def test_the_docs_are_served_from_zhibao_itself(front: Front) -> None:
    anonymous = front.server.client()
    page = anonymous.get("/api/docs")
    assert page.status_code == 200 and "<script>" not in page.text  # no inline script
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/") for source in sources)
    for source in sources:
        assert anonymous.get(source).status_code == 200, source
    assert anonymous.get("/api/v1/openapi.json").json()["info"]["title"].startswith("zhibao")


def test_the_server_answers_monitors_at_metrics_and_healthz(front: Front) -> None:
    """`zhibao serve` carries infra/ops' probes at their exact paths (no redirect): the
    Prometheus text with the store's head, and the JSON health whose status a monitor reads."""
    client = front.as_("village")
    metrics = client.get("/metrics", follow_redirects=False)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    head = re.search(r"^zhibao_store_head (\S+)$", metrics.text, re.M)
    assert head is not None and float(head[1]) == front.events()
    health = client.get("/healthz", follow_redirects=False)
    assert health.status_code in (200, 503)
    assert health.json()["head"] == front.events()
    assert health.json()["status"] == ("ok" if health.status_code == 200 else "stalled")


def test_a_refused_submission_writes_nothing(front: Front) -> None:
    """Generating a submission records events and writes files: a read-only token, a unit
    outside one's jurisdiction and a malformed period are each refused, and nothing is
    recorded and no version appears."""
    before = front.events()
    read_only = front.as_("village_read").post("/api/v1/units/610902101201/submissions/2021-05")
    assert read_only.status_code == 403 and read_only.json()["code"] == "SCOPE"
    elsewhere = front.as_("village").post("/api/v1/units/610902101202/submissions/2021-05")
    assert elsewhere.status_code == 403
    malformed = front.as_("village").post("/api/v1/units/610902101201/submissions/2021-13")
    assert malformed.status_code == 422 and malformed.json()["field"] == "period"
    assert front.events() == before
    for code in ("610902101201", "610902101202"):
        assert front.as_("auditor").get(f"/api/v1/units/{code}/submissions/2021-05").json() == []
