"""Prefect flows composing zhibao's stages. Importing them keeps Prefect offline first
(`infra.settings.PREFECT_OFFLINE`), for a process whose first Prefect import is this."""

from infra.settings import keep_prefect_offline

keep_prefect_offline()
