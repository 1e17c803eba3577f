"""The HTTP API: deals, lead intake and the signed payment webhook (see docs/http-api.md)."""
