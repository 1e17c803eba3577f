"""The runtime: settings, the Temporal connection, codec, metrics, logging, worker tuning, pipeline
files. Imports the layers below."""
