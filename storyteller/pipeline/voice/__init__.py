"""Voice anonymization: the voice methods, each keyed by the story's secret."""
