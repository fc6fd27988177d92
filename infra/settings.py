"""All settings, read once from environment variables prefixed `ZHIBAO_` (or a `.env` file).

- `ZHIBAO_DATABASE_URL` (default `sqlite:///zhibao.db`): event store and views, either
  `sqlite:///PATH` or `postgresql://USER:PASSWORD@HOST:PORT/DB[?schema=NAME]`.
- `ZHIBAO_OUTPUT_DIR` (default `zhibao-out`): where reports and exports are written.
- `ZHIBAO_CLOCK_SKEW_SECONDS` (default 300): how far business time may run ahead of the
  system clock before it counts as "in the future" (V2).
- `ZHIBAO_IMPORT_BATCH_SIZE` (default 1000): commands per transaction in bulk import.
- `ZHIBAO_ACTOR` (no default): the id of the registered person the command line acts as
  (`zhibao command`, `import`, `import-tasks`, `report`) when `--as` is not given.
- `ZHIBAO_MAX_EVENT_BYTES` (default 262144): the largest command an entry point reads and
  the largest event stored, in bytes (BOUND-EVENT). Every event goes to Kafka as one
  message, so keep it well below `ZHIBAO_KAFKA_MAX_REQUEST_BYTES` and the brokers'
  `message.max.bytes` (1 MiB by default): an event the brokers refuse would halt the stream.
  Settings are refused unless it is at least 64 KiB below `ZHIBAO_KAFKA_MAX_REQUEST_BYTES`.
- `ZHIBAO_AGGREGATE_CACHE_SIZE` (default 20000): aggregates kept in memory between batches.
- `ZHIBAO_EXPORT_CRON` (default `15 * * * *`: hourly) and `ZHIBAO_AUDIT_CRON` (default
  `30 3 * * *`: daily 03:30): schedules of the Parquet export (into `ZHIBAO_OUTPUT_DIR/parquet`)
  and of the audit (verify, then checkpoint), read in Asia/Shanghai.

Audit (infra/audit/; README "Audit"):
- `ZHIBAO_AUDIT_SIGNING_KEY` (default `zhibao-audit.key`): the file holding the key that signs
  the log's checkpoints (`zhibao audit keygen` makes one; retired keys' public lines stay in
  it). Keep it outside the database and its backups. Without it nothing is signed and
  submissions get no proof bundle.
- `ZHIBAO_AUDIT_TRUSTED_KEYS` (default none): a file of verifier keys (one per line) trusted
  for checkpoints besides the signing key's own: the log keys a county consumer (a witness)
  checks the checkpoints on Kafka with.
- Every checkpoint is also appended to `ZHIBAO_OUTPUT_DIR/audit/checkpoints.jsonl`, outside
  the database; `audit verify` checks the store against it and the Parquet manifest.

Kafka publication (infra/kafka/; README "Kafka"):
- `ZHIBAO_KAFKA_BOOTSTRAP_SERVERS` (default `127.0.0.1:9092`): comma-separated host:port list.
- `ZHIBAO_KAFKA_SECURITY_PROTOCOL` (default `PLAINTEXT`): or `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`.
- `ZHIBAO_KAFKA_SASL_MECHANISM` (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`),
  `ZHIBAO_KAFKA_SASL_USERNAME`, `ZHIBAO_KAFKA_SASL_PASSWORD`: SASL login, when used.
- `ZHIBAO_KAFKA_SSL_CAFILE`: CA bundle that signed the brokers' certificates (SSL protocols).
- `ZHIBAO_KAFKA_TOPIC_PREFIX` (default `zhibao`): topics are `<prefix>.events.<code>` and
  `<prefix>.dlq`.
- `ZHIBAO_KAFKA_PARTITIONS` (default 6), `ZHIBAO_KAFKA_REPLICATION_FACTOR` (default 1; 3 on
  a real cluster): used when the relay creates a topic. Never change a topic's partitions
  afterwards: an aggregate's events must stay in one partition.
- `ZHIBAO_KAFKA_LINGER_MS` (default 20), `ZHIBAO_KAFKA_BATCH_BYTES` (default 262144): producer
  batching. `ZHIBAO_KAFKA_MAX_REQUEST_BYTES` (default 1048576): largest message the relay
  sends; keep it at or below the brokers' `message.max.bytes`.
- `ZHIBAO_KAFKA_REQUEST_TIMEOUT_MS` (default 30000): how long a broker may take to answer
  before the client gives up on it and reconnects.
- `ZHIBAO_KAFKA_RETRY_MAX_SECONDS` (default 30): longest wait between reconnection attempts.
- `ZHIBAO_RELAY_BATCH_SIZE` (default 5000): events the relay reads and sends per round (at
  most two rounds wait for acknowledgements), and records a county consumer applies per
  transaction; `ZHIBAO_RELAY_POLL_SECONDS` (default 1.0): how often a following relay or
  consumer looks for new events when idle.

Views and submissions (projections/, flows/; README "Views and submissions"):
- `ZHIBAO_VIEWS_URL` (default: beside the store — `zhibao.db` → `zhibao-views.db`, or the
  store's own PostgreSQL database): where the views live.
- `ZHIBAO_PROJECTION_PAGE_SIZE` (default 5000): events folded per view transaction;
  `ZHIBAO_PROJECTION_POLL_SECONDS` (default 2.0): how often `zhibao project --follow` looks;
  `ZHIBAO_PROJECTION_WORKERS` (default 0: one per CPU): processes folding a long backlog.
- `ZHIBAO_REPORT_DEADLINES` (default `{"village": 3, "town": 5, "county": 8, "city": 10,
  "province": 15}`): per level, the day of the following month by which (inclusive) a
  monthly submission is due (DOMAIN §11.1); `ZHIBAO_QUARTER_DEADLINES` (default village 5,
  town 8, county 12, city 15, province 20) and `ZHIBAO_YEAR_DEADLINES` (default village 10,
  town 15, county 22, city 31, province 31, all of January) the same for quarterly
  (`2021-Q2`) and annual (`2021`) periods (DOMAIN §7.3).
- `ZHIBAO_PROGRAMME_START` (default 2020-04-01, 三年行动): where 累计 figures count from;
  `ZHIBAO_STOCK_CUTOFF` (default 2023-12-31, 治本攻坚): majors found by then are 存量.
- `ZHIBAO_MAJOR_ONLY_LIST_LEVELS` (default `["city", "province"]`): levels whose 问题隐患清单
  holds only major and listed hazards (DOMAIN §8.3).
- `ZHIBAO_CASCADE_CRON` (default `0 2 3 * *`: 02:00 on the 3rd, for the month before),
  `ZHIBAO_QUARTERLY_CASCADE_CRON` (default `0 3 5 1,4,7,10 *`: 03:00 on the 5th of the month
  after a quarter, for that quarter), `ZHIBAO_ANNUAL_CASCADE_CRON` (default `0 4 10 1 *`:
  04:00 on 10 January, for the year before) and `ZHIBAO_OVERDUE_CRON` (default
  `30 0 * * *`: daily 00:30): schedules of `zhibao flows serve`, read in Asia/Shanghai.
- `ZHIBAO_FORM_NO`, `ZHIBAO_FORM_AUTHORITY`, `ZHIBAO_FORM_APPROVAL_NO`,
  `ZHIBAO_FORM_VALID_UNTIL` (default blank): 表号, 制定机关, 批准文号 and 有效期至 printed in the
  header block of every submission's workbook and PDF.
- `ZHIBAO_PDF_FONT` (default: Debian's fonts-wqy-microhei, or another installed CJK
  TrueType font): the TrueType font the PDFs embed for Chinese.
- `ZHIBAO_REPORT_WORKERS` (default 0: one per CPU): processes rendering the cascade's
  workbooks and PDFs when a level has many (1: all in the cascade's own process).
HTTP front door (infra/http/; README "The front door"):
- `ZHIBAO_HTTP_HOST` (default 127.0.0.1) and `ZHIBAO_HTTP_PORT` (default 8000): where
  `zhibao serve` listens (put TLS in front: README).
- `ZHIBAO_HTTP_WORKERS` (default 1): server processes; each judges commands on its own
  directory, as several writers on one store do (the sign-in rate limit is per process).
- `ZHIBAO_HTTP_SESSION_SECONDS` (default 28800: 8 h): how long a web sign-in lasts.
- `ZHIBAO_HTTP_SECRET_KEY` (default `zhibao-http.key`): file holding the key that signs
  session cookies and CSRF tokens (made on first start when missing); keep it private.
- `ZHIBAO_HTTP_MAX_FAILURES` (default 5) failed sign-ins lock a person out for
  `ZHIBAO_HTTP_LOCKOUT_SECONDS` (default 900); each failure before that waits a little longer.
- `ZHIBAO_HTTP_LOGIN_RATE` (default 20): sign-in attempts per minute from one address.
- `ZHIBAO_HTTP_INVITATION_HOURS` (default 72): how long an invitation link stays valid.
- `ZHIBAO_HTTP_BASE_URL` (default `http://127.0.0.1:8000`): how invitation links begin.
- `ZHIBAO_HTTP_OIDC_ISSUER`, `ZHIBAO_HTTP_OIDC_AUDIENCE`, `ZHIBAO_HTTP_OIDC_JWKS` (a file
  holding the issuer's JSON Web Key Set) and `ZHIBAO_HTTP_OIDC_CLAIM` (default `zhibao_person`:
  the claim naming a registered person's id): the province's single sign-on; unset, bearer
  JWTs are not accepted.
- `ZHIBAO_HTTP_MAX_BATCH_LINES` (default 1000): lines of a JSONL batch; a request body may
  be at most `ZHIBAO_MAX_EVENT_BYTES` per command line.

Health and lag (infra/ops/; README "Production processes"):
- `ZHIBAO_STATUS_STALL_SECONDS` (default 900): a stage whose oldest unprocessed event has
  waited longer is stalled — `zhibao status --check` exits 1, `/healthz` answers 503.
- `ZHIBAO_STATUS_CONSUMERS` (default none): the county consumers to watch, as JSON
  `{"COUNTY CODE": "VIEWS URL", …}` — each consumer's own views database, where it keeps its
  offsets.

Offline by default (README "Production processes"): zhibao's own processes set, unless the
environment already does, `DO_NOT_TRACK=1` and `PREFECT_SERVER_ANALYTICS_ENABLED=false`
(`PREFECT_OFFLINE`) before Prefect is imported, so neither Prefect's client nor its server
(the ephemeral one `zhibao flows run` starts included) calls out. The systemd units in
`deploy/` set the same for `prefect server start` and the worker.
"""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MESSAGE_HEADROOM = 65536
"""Bytes a Kafka message needs besides its event (envelope, headers, batch framing)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIBAO_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///zhibao.db"
    output_dir: Path = Path("zhibao-out")
    clock_skew_seconds: int = 300
    import_batch_size: int = 1000
    actor: str | None = None
    max_event_bytes: int = 262144
    aggregate_cache_size: int = 20000
    export_cron: str = "15 * * * *"
    audit_cron: str = "30 3 * * *"
    audit_signing_key: Path | None = Path("zhibao-audit.key")
    audit_trusted_keys: Path | None = None
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_topic_prefix: str = "zhibao"
    kafka_partitions: int = 6
    kafka_replication_factor: int = 1
    kafka_linger_ms: int = 20
    kafka_batch_bytes: int = 262144
    kafka_max_request_bytes: int = 1048576
    kafka_request_timeout_ms: int = 30000
    kafka_retry_max_seconds: float = 30.0
    relay_batch_size: int = 5000
    relay_poll_seconds: float = 1.0
    views_url: str | None = None
    projection_page_size: int = 10_000  # events per views transaction (memory ∝ page)
    projection_poll_seconds: float = 2.0
    projection_workers: int = 0
    report_deadlines: dict[str, int] = {"village": 3, "town": 5, "county": 8, "city": 10,
                                        "province": 15}
    quarter_deadlines: dict[str, int] = {"village": 5, "town": 8, "county": 12, "city": 15,
                                         "province": 20}
    year_deadlines: dict[str, int] = {"village": 10, "town": 15, "county": 22, "city": 31,
                                      "province": 31}
    programme_start: date = date(2020, 4, 1)
    stock_cutoff: date = date(2023, 12, 31)
    major_only_list_levels: list[str] = ["city", "province"]
    cascade_cron: str = "0 2 3 * *"
    quarterly_cascade_cron: str = "0 3 5 1,4,7,10 *"
    annual_cascade_cron: str = "0 4 10 1 *"
    form_no: str = ""
    form_authority: str = ""
    form_approval_no: str = ""
    form_valid_until: str = ""
    pdf_font: Path | None = None
    report_workers: int = 0
    overdue_cron: str = "30 0 * * *"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_workers: int = 1
    http_session_seconds: int = 8 * 3600
    http_secret_key: Path = Path("zhibao-http.key")
    http_max_failures: int = 5
    http_lockout_seconds: int = 900
    http_login_rate: int = 20
    http_invitation_hours: int = 72
    http_base_url: str = "http://127.0.0.1:8000"
    http_oidc_issuer: str | None = None
    http_oidc_audience: str | None = None
    http_oidc_jwks: Path | None = None
    http_oidc_claim: str = "zhibao_person"
    http_max_batch_lines: int = 1000
    status_stall_seconds: float = 900.0
    status_consumers: dict[str, str] = {}

    @model_validator(mode="after")
    def _events_fit_a_message(self) -> Settings:
        """An event the relay cannot send would halt its county's stream for good."""
        if self.max_event_bytes + MESSAGE_HEADROOM > self.kafka_max_request_bytes:
            raise ValueError(f"ZHIBAO_MAX_EVENT_BYTES ({self.max_event_bytes}) must stay at "
                             f"least {MESSAGE_HEADROOM} bytes below "
                             f"ZHIBAO_KAFKA_MAX_REQUEST_BYTES ({self.kafka_max_request_bytes})")
        return self


class MissingResource(RuntimeError):
    """What a setting names, or the machine should provide (a font, a key file), is not
    there: the operator can fix it, so the command line says what and how in one line."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


PREFECT_OFFLINE = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
"""Prefect's client analytics and its server's telemetry heartbeat, both off: government
networks are often offline, and the heartbeat's write into the ephemeral server's SQLite
database, racing the flow run's own writes, is what failed with `database is locked`."""


def keep_prefect_offline() -> None:
    """Put PREFECT_OFFLINE into the environment (what is set there already wins); it must
    run before Prefect is first imported, which reads its settings then."""
    for name, value in PREFECT_OFFLINE.items():
        os.environ.setdefault(name, value)
