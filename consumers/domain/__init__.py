"""The domain model the consumers share: the category and assignee catalogues and the city calendar.

Pure code, loaded from the YAML files the composition root points at (`hub/config/`); consumers import it,
it imports nothing of the hub.
"""
