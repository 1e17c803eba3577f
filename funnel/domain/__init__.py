"""The domain: deals, pipelines, conditions, working time, templates. No I/O; imports nothing of
the project outside itself."""
