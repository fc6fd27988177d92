"""Operating zhibao: health and lag of every stage (`health`), their Prometheus metrics and
health check as ASGI apps (`metrics`), and the documents generated from the code (`docs`)."""
