"""llmstack: render a reviewable docker-compose stack serving a local model behind LiteLLM."""

import os as _os

__version__ = "0.1.0"

# A CLI process has no use for third-party pydantic plugins, and discovering them scans every
# installed package's entry points (about 30 ms of each `llmstack` run). Users can still opt in.
_os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
