"""Sessions: the registry of live sessions, each with its turn queue, team and event channel."""
