"""Exports for data warehouses: incremental, hive-partitioned Parquet datasets."""
