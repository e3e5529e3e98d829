"""VIST captions printed as a reader expects them, and a VIST book titled from its story, not its id."""

import pytest

from storybook.manifest import title_from
from storybook.vist import tidy_caption


@pytest.mark.parametrize("raw, printed", [
    ("every one else arrived soon after .", "Every one else arrived soon after."),
    ("we went to the lake . it 's cold , but i did n't mind !", "We went to the lake. It's cold, but I didn't mind!"),
    ("the kids ( all five ) swam .", "The kids (all five) swam."),
])
def test_tokenised_captions_get_sentence_case_and_no_space_before_punctuation(raw, printed):
    assert tidy_caption(raw) == printed


def test_cased_original_text_keeps_its_capitals():
    assert tidy_caption("We met iPhone fans at NASA .") == "We met iPhone fans at NASA."


def test_the_default_title_is_the_first_sentence():
    assert title_from("Every one else arrived soon after. Then we ate.") == "Every one else arrived soon after"


def test_a_long_first_sentence_gives_a_shortened_title():
    title = title_from(" ".join(["word"] * 20) + ".")
    assert title == " ".join(["word"] * 12) + "…"
