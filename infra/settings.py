"""All settings, read once from environment variables prefixed `ZHIBAO_` (or a `.env` file).

| variable | default | meaning |
| --- | --- | --- |
| `ZHIBAO_DATABASE_URL` | `sqlite:///zhibao.db` | event store and views: `sqlite:///PATH` or `postgresql://user:pass@host:port/db[?schema=NAME]` |
| `ZHIBAO_OUTPUT_DIR` | `zhibao-out` | where reports and exports are written |
| `ZHIBAO_CLOCK_SKEW_SECONDS` | `300` | how far business time may run ahead of the system clock (V2) |
| `ZHIBAO_IMPORT_BATCH_SIZE` | `1000` | commands per transaction in bulk import |
| `ZHIBAO_AGGREGATE_CACHE_SIZE` | `20000` | aggregates kept in memory between batches |
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIBAO_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///zhibao.db"
    output_dir: Path = Path("zhibao-out")
    clock_skew_seconds: int = 300
    import_batch_size: int = 1000
    aggregate_cache_size: int = 20000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
