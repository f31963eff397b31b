"""The one exception type the CLI turns into a one-line message and exit code 2."""


class LlmstackError(Exception):
    """Bad input or an unusable environment: the message names the culprit and the fix."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


class RenderError(Exception):
    """A rendered file failed its own validation: a bug in llmstack, never user input."""
