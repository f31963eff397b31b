"""Facts read from a model on disk: the one package that opens model files (never the network).

Sources, in the order `inspect_path` tries them for a directory (inspect.py):

* TensorRT-LLM engine directory (trtllm.py).
* GGUF files: the key/value header only (gguf.py).
* Hugging Face layout, a cache snapshot included (hf.py; estimate.py when the weights are absent).

facts.py holds `ModelFacts` and its manifest form; families.py the model families; template.py
what a chat template says. Nothing here imports third-party packages, so importing it stays cheap.
"""

from llmstack.model.facts import FORMATS, ModelFacts, facts_from_dict, facts_to_dict
from llmstack.model.families import family_from_name, vision_from_name
from llmstack.model.gguf import GGUF_FILE_TYPES, GgufArray, GgufListing, list_gguf, read_gguf_metadata
from llmstack.model.hf import HfSnapshot, hf_cache_dir, hf_snapshot
from llmstack.model.inspect import inspect_hub_id, inspect_path

__all__ = [
    "FORMATS", "GGUF_FILE_TYPES", "GgufArray", "GgufListing", "HfSnapshot", "ModelFacts",
    "facts_from_dict", "facts_to_dict", "family_from_name", "hf_cache_dir", "hf_snapshot", "inspect_hub_id",
    "inspect_path", "list_gguf", "read_gguf_metadata", "vision_from_name",
]
