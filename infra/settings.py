"""All settings, read once from environment variables prefixed `ZHIBAO_` (or a `.env` file).

- `ZHIBAO_DATABASE_URL` (default `sqlite:///zhibao.db`): event store and views, either
  `sqlite:///PATH` or `postgresql://USER:PASSWORD@HOST:PORT/DB[?schema=NAME]`.
- `ZHIBAO_OUTPUT_DIR` (default `zhibao-out`): where reports and exports are written.
- `ZHIBAO_CLOCK_SKEW_SECONDS` (default 300): how far business time may run ahead of the
  system clock before it counts as "in the future" (V2).
- `ZHIBAO_IMPORT_BATCH_SIZE` (default 1000): commands per transaction in bulk import.
- `ZHIBAO_AGGREGATE_CACHE_SIZE` (default 20000): aggregates kept in memory between batches.
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
