"""zhibao's command line. Every zhibao process started from it keeps Prefect offline; this
runs before any subcommand can import Prefect."""

from infra.settings import keep_prefect_offline

keep_prefect_offline()
