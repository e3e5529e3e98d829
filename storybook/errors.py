"""The one exception type of the storybook package.

Every problem a user can fix (bad manifest, missing image, unknown page size, unusable output folder)
is raised as `StorybookError` with a message that says what is wrong and what to do, so that the CLI can
print it as one line and exit with code 2, and the ComfyUI node can show it as is.
"""


class StorybookError(Exception):
    """A problem with the user's input or output location, explained in the message."""
