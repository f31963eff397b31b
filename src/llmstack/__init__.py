"""llmstack: render a reviewable docker-compose stack serving a local model behind LiteLLM."""

__version__ = "0.1.0"
