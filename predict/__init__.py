"""Python deployment of the emotion model: `python -m predict image|live` (see predict/__main__.py)."""
