"""The sales funnel's own layers, lowest first; a layer imports only the ones below it:

- ``funnel.domain``: the deal, the pipeline and its rules, working time (no I/O);
- ``funnel.storage``: the database tables, stores and migrations;
- ``funnel.client``: ``DealClient``, how everything above talks to a deal's workflow;
- ``funnel.runtime``: settings, the Temporal connection, codec, metrics, logging.

``workflows``, ``activities``, ``worker``, ``starter`` (the CLI), ``api`` and ``analytics``
stand above them.
"""
