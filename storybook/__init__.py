"""storybook: printable illustrated stories (story manifest, HTML preview, print PDF, preflight).

The API a program (such as the ComfyUI SaveStorybook node) needs:

    from storybook import BookOptions, story_from_pages, write_book
    source = story_from_pages(texts, pil_images, title="The red circle", seeds=seeds)
    result = write_book(source, out_folder, BookOptions(size="a5", layout="image-above-text"))
    result.pdf, result.html, result.manifest, result.report.format()

Errors a user can fix are raised as `StorybookError`. Nothing here imports torch or weasyprint at import
time (weasyprint is imported when a PDF is laid out).
"""

from storybook.book import BookResult, StoryInput, from_manifest, story_from_pages, write_book
from storybook.errors import StorybookError
from storybook.manifest import ModelInfo, Page, Story, load_story, save_story
from storybook.options import BookOptions
from storybook.preflight import PreflightReport
from storybook.vist import from_vist

__all__ = [
    "BookOptions", "BookResult", "ModelInfo", "Page", "PreflightReport", "Story", "StoryInput", "StorybookError",
    "from_manifest", "from_vist", "load_story", "save_story", "story_from_pages", "write_book",
]
