"""The front door: an HTTP API (`/api/v1`) and a web workspace, served by `zhibao serve`.

An entry point like the command line: every command goes through the same application
service (`infra/intake/service.py`), as the registered person the request's credential
proves (`infra/http/credentials.py`), never as a person a body names.
"""
