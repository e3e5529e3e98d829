"""The shapes world is deterministic, its narration matches its pictures, and it fits the prompt builders."""

from __future__ import annotations

from minigpt5_core import vist_samples
from minigpt5_core.shapes import COLOURS, SLOTS, STORY_STEPS, ShapesWorld, Thing, describe, render


def test_same_seed_and_index_give_the_same_samples():
    a, b = ShapesWorld(3), ShapesWorld(3)
    assert [s.narration for s in a.story(5)] == [s.narration for s in b.story(5)]
    assert a.caption_pair(9)[1].tobytes() == b.caption_pair(9)[1].tobytes()
    assert [s.narration for s in a.story(5)] != [s.narration for s in ShapesWorld(4).story(5)]


def test_pictures_show_each_object_in_its_colour_at_its_slot():
    thing = Thing("square", "blue", "large", "right")
    picture = render((thing,))
    assert picture.size == (64, 64)
    assert picture.getpixel((SLOTS["right"], 32)) == COLOURS["blue"]
    assert picture.getpixel((SLOTS["left"], 32)) != COLOURS["blue"]


def test_stories_have_five_steps_with_one_or_two_distinct_objects():
    world = ShapesWorld(0)
    for index in range(200):
        steps = world.story(index)
        assert len(steps) == STORY_STEPS
        assert steps[0].narration.startswith("A ") and "appears" in steps[0].narration
        for step in steps:
            assert 1 <= len(step.scene) <= 2
            assert len({t.slot for t in step.scene}) == len(step.scene)
            assert len({(t.shape, t.colour) for t in step.scene}) == len(step.scene)


def test_narrated_changes_are_what_the_next_picture_shows():
    world = ShapesWorld(1)
    for index in range(100):
        steps = world.story(index)
        for before, after in zip(steps, steps[1:]):
            text = after.narration
            if " turns " in text:
                colour = text.rstrip(".").split()[-1]
                assert colour in {t.colour for t in after.scene}
            if " moves to the " in text:
                slot = text.rstrip(".").split()[-1]
                shape = text.split()[2]
                assert any(t.slot == slot and t.shape == shape for t in after.scene)
            if text.endswith("leaves."):
                assert len(after.scene) == len(before.scene) - 1


def test_captions_name_every_object():
    scene = (Thing("circle", "red", "small", "left"), Thing("triangle", "green", "large", "middle"))
    assert describe(scene) == "a small red circle on the left and a large green triangle in the middle"


def test_stories_feed_the_vist_prompt_builders_unchanged():
    steps = ShapesWorld(0).story(0)
    samples = vist_samples([s.narration for s in steps], [s.picture() for s in steps], "multimodal")
    assert len(samples) == STORY_STEPS
    assert samples[-1].target.startswith(steps[-1].narration)


def test_story_samples_carry_the_scene_description_of_their_target_picture_as_caption():
    from minigpt5_core.shapes import data, describe

    story = ShapesWorld(0).story(3)
    for task in ("gen", "multimodal"):
        samples = data.story_samples(story, task, "", 8)
        assert [s.captions for s in samples] == [[describe(step.scene)] for step in story]
    assert all(s.captions is None for s in data.story_samples(story, "understanding", "", 8))


def test_language_model_samples_say_what_the_world_shows():
    import random

    from minigpt5_core.prompts import GEN_INSTRUCTION, UNDERSTAND_INSTRUCTION
    from minigpt5_core.shapes import data, describe

    story = ShapesWorld(0).story(7, steps=7)
    pictures = [p.tobytes() for p in data.story_pictures(story)]
    samples = data.pretraining_samples(story, "", random.Random(0))
    captions = [s for s in samples if UNDERSTAND_INSTRUCTION in s.source]
    scenes = [s for s in samples if GEN_INSTRUCTION.split("{")[0] in s.source]
    assert len(captions) == 2 and len(scenes) == 2
    for sample in captions:
        (image,) = sample.input_images
        assert sample.target == f"{describe(story[pictures.index(image.tobytes())].scene)} ###"
    for sample in scenes:  # the history's pictures, then the narration of the step whose scene is the target
        k = len(sample.input_images)
        assert [im.tobytes() for im in sample.input_images] == pictures[:k]
        assert story[k].narration in sample.source and sample.target == f"{describe(story[k].scene)} ###"
