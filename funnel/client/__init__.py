"""The client of a deal: start, messages, queries, paged listing, one translation of refused
requests; used by the CLI, the API and the workspace. Imports funnel.domain and funnel.storage."""
