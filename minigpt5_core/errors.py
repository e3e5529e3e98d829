"""The one exception type of the model library.

Every error a user can cause (bad input, missing or mismatched files, a tokenizer that splits a
voken) is raised as `MiniGPT5Error` with a message that names the problem and the fix, so that
callers (CLI, ComfyUI nodes) can show it as is instead of a stack trace from deep inside torch.
"""


class MiniGPT5Error(Exception):
    """A problem the user can act on; the message says what is wrong and what to do."""


class NoPictureError(MiniGPT5Error):
    """The model produced no voken group where a picture was needed (raised where that is known)."""
