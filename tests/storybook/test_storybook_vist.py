"""VIST stories in their two on-disk forms become the right pages, in the right order."""

import json
import random

import pytest
from PIL import Image

from storybook import StorybookError, from_vist
from storybook.vist import tidy_caption

# (worker_arranged_photo_order, photo id, original_text) of story 30355, in story order.
STORY = [
    (0, "2001", "We got to the lake early."),
    (1, "2002", "Dad lit the grill."),
    (2, "2003", "My sister brought her famous pie."),
    (3, "2004", "The kids swam until dark."),
    (4, "2005", "Fireworks ended the day!"),
]
OTHER_STORY = [(0, "2003", "Pie time."), (1, "2001", "The lake."), (2, "2005", "Boom.")]


def annotation(story_id, order, photo_id, text, storylet):
    return [{
        "original_text": text, "album_id": "72157600", "photo_flickr_id": photo_id,
        "setting": "first-2-pick-and-tell", "worker_id": "W1", "story_id": story_id,
        "tier": "story-in-sequence", "worker_arranged_photo_order": order,
        "text": text.lower().replace(".", " ."), "storylet_id": str(storylet),
    }]


def write_sis(path, stories):
    """A story-in-sequence file as VIST ships it, annotations in no particular order."""
    annotations = [annotation(story_id, *step, storylet=n)
                   for n, (story_id, step) in enumerate((sid, s) for sid, steps in stories.items() for s in steps)]
    random.Random(0).shuffle(annotations)
    data = {"info": {"version": "1"}, "type": "story_in_sequence",
            "albums": [{"id": "72157600", "title": "Summer at the lake", "vist_label": "beach"}],
            "images": [{"id": pid, "album_id": "72157600"} for _, pid, _ in STORY],
            "annotations": annotations}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "images"
    (folder / "val").mkdir(parents=True)
    for _, photo_id, _ in STORY:
        # VIST splits photos into train/val/test folders; one of ours lives one level down.
        where = folder / "val" if photo_id == "2004" else folder
        Image.new("RGB", (40, 30), (int(photo_id) % 256, 0, 0)).save(where / f"{photo_id}.jpg")
    return folder


def test_sis_story_pages_follow_worker_arranged_photo_order(tmp_path, photos):
    sis = write_sis(tmp_path / "sis.json", {"30355": STORY, "30356": OTHER_STORY})
    source = from_vist(sis, images=photos, story_id="30355")
    assert [p.text for p in source.story.pages] == [text for _, _, text in STORY]
    assert [p.provenance["photo_id"] for p in source.story.pages] == [pid for _, pid, _ in STORY]
    assert source.images[source.story.pages[3].image] == photos / "val" / "2004.jpg"


def test_sis_prints_the_cased_original_text_and_the_album_title(tmp_path, photos):
    source = from_vist(write_sis(tmp_path / "sis.json", {"30355": STORY}), images=photos)
    assert source.story.pages[0].text == "We got to the lake early."
    assert source.story.title == "Summer at the lake"


def test_file_with_several_stories_needs_a_story_id(tmp_path, photos):
    sis = write_sis(tmp_path / "sis.json", {"30355": STORY, "30356": OTHER_STORY})
    with pytest.raises(StorybookError, match=r"holds 2 stories; pick one with --story-id \(e.g. 3035[56], "):
        from_vist(sis, images=photos)


def test_unknown_story_id_is_named(tmp_path, photos):
    sis = write_sis(tmp_path / "sis.json", {"30355": STORY})
    with pytest.raises(StorybookError, match=r"story id 999 is not in"):
        from_vist(sis, images=photos, story_id="999")


def test_missing_photo_is_named_with_the_folder_searched(tmp_path, photos):
    (photos / "2002.jpg").unlink()
    with pytest.raises(StorybookError, match=r"photos 2002 of story 30355 not found in .*images"):
        from_vist(write_sis(tmp_path / "sis.json", {"30355": STORY}), images=photos)


def test_sis_file_needs_the_photo_folder(tmp_path):
    with pytest.raises(StorybookError, match=r"--images DIR"):
        from_vist(write_sis(tmp_path / "sis.json", {"30355": STORY}))


def test_cleaned_form_follows_sequence_index_and_the_image_map(tmp_path):
    (tmp_path / "val_images").mkdir()
    mapping = {}
    for n, (_, photo_id, _) in enumerate(STORY):
        Image.new("RGB", (32, 32)).save(tmp_path / "val_images" / f"{n:09d}.jpg")
        mapping[photo_id] = f"val_images/{n:09d}.jpg"
    steps = [{"caption": text.lower(), "image_id": pid, "sequence_index": order} for order, pid, text in STORY]
    (tmp_path / "val_cleaned.json").write_text(json.dumps({"40470": steps[::-1]}), encoding="utf-8")
    (tmp_path / "map.json").write_text(json.dumps(mapping), encoding="utf-8")
    source = from_vist(tmp_path / "val_cleaned.json", image_map=tmp_path / "map.json")
    assert [p.text for p in source.story.pages] == [tidy_caption(text.lower()) for _, _, text in STORY]
    assert source.images[source.story.pages[0].image] == tmp_path / "val_images" / "000000000.jpg"


def test_a_file_of_another_kind_is_recognised_as_not_vist(tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"hello": "world"}), encoding="utf-8")
    with pytest.raises(StorybookError, match=r"neither a VIST story-in-sequence file"):
        from_vist(tmp_path / "other.json", images=tmp_path)


# ---- files anyone may have written: ids and paths never reach outside the photo folder -------------


@pytest.fixture
def passport(tmp_path):
    """A private picture beside the photo folder that no VIST file may make the book read."""
    (tmp_path / "private").mkdir()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "private" / "passport.jpg")
    return tmp_path / "private" / "passport.jpg"


def one_line_error(call) -> str:
    with pytest.raises(StorybookError) as caught:
        call()
    assert "\n" not in str(caught.value)
    return str(caught.value)


def with_photo(steps, index, photo_id):
    return [(order, photo_id if n == index else pid, text) for n, (order, pid, text) in enumerate(steps)]


def test_sis_photo_id_that_climbs_out_of_the_photo_folder_is_refused(tmp_path, photos, passport):
    sis = write_sis(tmp_path / "sis.json", {"30355": with_photo(STORY, 1, "../private/passport")})
    message = one_line_error(lambda: from_vist(sis, images=photos))
    assert "'../private/passport' is not a plain file name" in message and "story 30355" in message


def test_sis_photo_id_that_is_an_absolute_path_is_refused(tmp_path, photos, passport):
    sis = write_sis(tmp_path / "sis.json", {"30355": with_photo(STORY, 0, str(passport.with_suffix("")))})
    assert "is not a plain file name" in one_line_error(lambda: from_vist(sis, images=photos))


def test_sis_photo_that_links_outside_the_photo_folder_is_refused(tmp_path, photos, passport):
    (photos / "2002.jpg").unlink()
    (photos / "2002.jpg").symlink_to(passport)
    sis = write_sis(tmp_path / "sis.json", {"30355": STORY})
    assert "leads outside" in one_line_error(lambda: from_vist(sis, images=photos))


def test_nul_byte_in_a_photo_id_is_one_line(tmp_path, photos):
    sis = write_sis(tmp_path / "sis.json", {"30355": with_photo(STORY, 2, "20\x0003")})
    assert "'20\\x0003' is not a plain file name" in one_line_error(lambda: from_vist(sis, images=photos))


def cleaned_files(tmp_path, paths, indices=None):
    """A cleaned VIST story of len(paths) steps whose image map gives `paths`; captions name their index."""
    indices = indices if indices is not None else list(range(len(paths)))
    steps = [{"caption": f"Step {index}.", "image_id": str(n), "sequence_index": index}
             for n, index in enumerate(indices)]
    (tmp_path / "cleaned.json").write_text(json.dumps({"40470": steps}), encoding="utf-8")
    (tmp_path / "map.json").write_text(json.dumps({str(n): p for n, p in enumerate(paths)}), encoding="utf-8")
    return tmp_path / "cleaned.json", tmp_path / "map.json"


@pytest.mark.parametrize("escape", ["../private/passport.jpg", "{passport}", "images/../../private/passport.jpg",
                                    "images/2001\x00.jpg"])
def test_cleaned_image_map_path_outside_the_image_folder_is_refused(tmp_path, photos, passport, escape):
    cleaned, mapping = cleaned_files(tmp_path / "images", ["2001.jpg", escape.format(passport=passport)])
    message = one_line_error(lambda: from_vist(cleaned, image_map=mapping))
    assert "is not a relative path inside" in message and "image 1's path" in message


def test_cleaned_image_map_path_that_links_outside_is_refused(tmp_path, photos, passport):
    (photos / "2001.jpg").unlink()
    (photos / "2001.jpg").symlink_to(passport)
    cleaned, mapping = cleaned_files(tmp_path, ["2001.jpg"])
    assert "leads outside" in one_line_error(lambda: from_vist(cleaned, image_map=mapping, images=photos))


def test_cleaned_sequence_index_may_mix_numbers_and_digit_strings(tmp_path, photos):
    cleaned, mapping = cleaned_files(tmp_path, ["2001.jpg", "2002.jpg", "2003.jpg", "2005.jpg"],
                                     indices=["10", 9, 2.0, "0"])
    source = from_vist(cleaned, image_map=mapping, images=photos)
    assert [p.text for p in source.story.pages] == ["Step 0.", "Step 2.0.", "Step 9.", "Step 10."]


def test_cleaned_sequence_index_that_is_not_a_whole_number_is_named(tmp_path, photos):
    cleaned, mapping = cleaned_files(tmp_path, ["2001.jpg", "2002.jpg"], indices=[0, "second"])
    message = one_line_error(lambda: from_vist(cleaned, image_map=mapping, images=photos))
    assert "step 1 has sequence_index 'second'; it must be a whole number" in message


def test_a_vist_file_nested_too_deeply_is_one_line(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert "nested too deeply" in one_line_error(lambda: from_vist(tmp_path / "deep.json", images=tmp_path))
