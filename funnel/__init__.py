"""Domain code of the sales funnel: models, pipeline schema, working calendar, store.

Nothing here is a workflow or an activity; both of those import from here.
"""
