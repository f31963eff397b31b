"""Every error llmstack reports on purpose, and the exit code each class stands for.

`cli.py` turns any `LlmstackError` into one line on stderr and `exit_code`; nothing else maps
exceptions to exit codes. The classes say *whose* problem it is:

- `InputError` (and `ConfigFileError`, `ModelFileError`, `PlanError`): exit 2, bad input: a flag,
  models.yaml, a model file, or a stack that cannot fit; nothing was written.
- `OperationFailed` (and `HandEdited`, `EnvironmentProblem`, `StackFailed`): exit 1, the input is
  fine but the operation did not succeed: hand-edited files, no Docker engine, a stack that
  does not start.
- `RenderError`: exit 3, a rendered file failed its own validation: a bug in llmstack, never
  user input.
"""

from __future__ import annotations


class LlmstackError(Exception):
    """A problem reported as one line naming the culprit and the fix."""

    exit_code = 2


class InputError(LlmstackError):
    """A flag, a models.yaml value or a model the user pointed at is wrong (exit 2)."""

    exit_code = 2


class ConfigFileError(InputError):
    """models.yaml (or another config file) cannot be read or is invalid; names the file and key path."""


class ModelFileError(InputError):
    """A model file the user pointed at cannot be decoded (config.json, GGUF header, engine config)."""


class PlanError(InputError):
    """The model does not fit what was asked of it: context, tensor parallelism, GPU memory."""


class OperationFailed(LlmstackError):
    """The input is fine, the operation did not succeed (exit 1)."""

    exit_code = 1


class HandEdited(OperationFailed):
    """A rendered file was edited by hand; re-rendering would lose the edit."""


class EnvironmentProblem(OperationFailed):
    """This host lacks something the command needs: Docker, Compose, the claude CLI, ..."""


class StackFailed(OperationFailed):
    """A stack did not start, did not answer, or failed its checks."""


class RenderError(LlmstackError):
    """A rendered file failed its own validation: a bug in llmstack, never user input (exit 3)."""

    exit_code = 3
