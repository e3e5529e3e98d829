"""Dataset readers on small files written here in the real formats, broken records included."""

from __future__ import annotations

import io
import json
import random
import tarfile

import pytest
from PIL import Image

from minigpt5_core import MiniGPT5Error
from minigpt5_core.data import (
    ReadReport,
    SampleSource,
    read_cc3m_shards,
    read_cc3m_tsv,
    read_mmdialog,
    read_records,
    read_vist_cleaned,
    read_vist_sis,
    sample_specs,
)
from minigpt5_core.data.shapes_export import write_shapes_cc3m_tsv, write_shapes_vist_sis
from minigpt5_core.shapes import ShapesWorld
from minigpt5_core.prompts import pre_caption
from minigpt5_core.tokens import IMAGE_PLACEHOLDER

VOKENS = "".join(f"[IMG{i}]" for i in range(8))


def _png(colour=(200, 10, 10), size=16) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return buf.getvalue()


def _jpg(colour=(10, 200, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buf, format="JPEG")
    return buf.getvalue()


# ---- CC3M TSV -------------------------------------------------------------------------------------


def test_cc3m_tsv_reads_good_lines_and_counts_broken_ones(tmp_path):
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "a.jpg").write_bytes(_jpg())
    (tmp_path / "val" / "b.png").write_bytes(_png())
    (tmp_path / "val" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "cc3m.tsv").write_text(
        "caption\timage_path\n"
        "burning candle  on the background .\tval/a.jpg\n"
        "shot of the full tree .\tval/b.png\n"
        "a line without a tab\n"
        "too\tmany\tfields\n"
        "\tval/a.jpg\n"
        "a caption whose image is gone\tval/gone.jpg\n"
        "a caption whose image is corrupt\tval/broken.jpg\n"
        "\n",
        encoding="utf-8",
    )
    report = ReadReport("cc3m")
    records = list(read_cc3m_tsv(tmp_path / "cc3m.tsv", report))
    assert [r.caption for r in records] == ["burning candle on the background .", "shot of the full tree .",
                                            "a caption whose image is corrupt"]
    assert report.read == 3
    assert report.skipped == {"malformed line (expected caption<TAB>image_path)": 2, "empty caption": 1,
                              "missing image": 1}
    assert "cc3m.tsv:7" in report.examples["missing image"]
    assert "4 skipped" in report.summary()

    # The corrupt image is found when its sample is built: skipped, counted, and the batch stays full.
    specs = sample_specs(iter(records), None, report)
    source = SampleSource(specs, report, seed=0)
    batch = source.batch(4)
    assert len(batch) == 4 and report.skipped["unreadable image"] >= 1
    assert all(s.target == f"{VOKENS} ###" and s.output_images[0].size == (16, 16) for s in batch)
    assert {s.captions[0] for s in batch} <= {pre_caption(records[0].caption), pre_caption(records[1].caption)}


def test_cc3m_tsv_images_folder_option_and_missing_file(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "x.png").write_bytes(_png())
    (tmp_path / "c.tsv").write_text("a red square\tx.png\n")
    report = ReadReport("cc3m")
    assert [r.caption for r in read_cc3m_tsv(tmp_path / "c.tsv", report, images=tmp_path / "imgs")] == ["a red square"]
    with pytest.raises(MiniGPT5Error, match="does not exist"):
        list(read_cc3m_tsv(tmp_path / "nope.tsv", report))


# ---- CC3M webdataset shards ----------------------------------------------------------------------


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_cc3m_webdataset_shards_group_by_key_and_count_broken_samples(tmp_path):
    with tarfile.open(tmp_path / "00000.tar", "w") as tar:
        _add(tar, "000000000.jpg", _jpg())
        _add(tar, "000000000.txt", "a green square".encode())
        _add(tar, "000000000.json", json.dumps({"caption": "ignored when .txt exists", "status": "success"}).encode())
        _add(tar, "000000001.png", _png())
        _add(tar, "000000001.json", json.dumps({"caption": "a red square", "key": "000000001"}).encode())
        _add(tar, "000000002.txt", b"a caption without its image")
        _add(tar, "000000003.jpg", _jpg())  # an image without a caption
        _add(tar, "000000004.jpg", b"garbage bytes")
        _add(tar, "000000004.txt", b"a caption with a corrupt image")
    (tmp_path / "00001.tar").write_bytes(b"this is not a tar file" * 40)
    good = (tmp_path / "00000.tar").read_bytes()
    (tmp_path / "00002.tar").write_bytes(good[: 512 * 3 + 100])  # cut inside the second member

    report = ReadReport("cc3m-wds")
    records = list(read_cc3m_shards(tmp_path, report))
    captions = [r.caption for r in records]
    assert captions[:3] == ["a green square", "a red square", "a caption with a corrupt image"]
    assert report.skipped["sample without an image"] >= 1 and report.skipped["sample without a caption"] >= 1
    assert report.skipped["unreadable shard"] == 1
    assert report.skipped["truncated shard (samples after the break lost)"] == 1
    # Images are read straight from the shard by offset.
    assert records[0].image.open().size == (16, 16)
    assert records[1].image.open().getpixel((0, 0)) == (200, 10, 10)

    specs = sample_specs(iter(records[:3]), None, report)
    source = SampleSource(specs, report, seed=1)
    assert len(source.batch(5)) == 5 and report.skipped["unreadable image"] >= 1


def test_compressed_shards_are_refused_with_the_fix(tmp_path):
    with tarfile.open(tmp_path / "00000.tar.gz", "w:gz") as tar:
        _add(tar, "000000000.jpg", _jpg())
        _add(tar, "000000000.txt", b"a green square")
    with pytest.raises(MiniGPT5Error, match="1 compressed shards .*00000.tar.gz.*decompress them first"):
        list(read_cc3m_shards(tmp_path, ReadReport("cc3m-wds")))
    report = ReadReport("cc3m-wds")
    assert list(read_cc3m_shards([tmp_path / "00000.tar.gz"], report)) == []
    assert report.skipped["compressed shard (decompress it: gunzip)"] == 1


# ---- VIST -------------------------------------------------------------------------------------------


def _sis(stories: dict[str, list[tuple[int, str, str]]]) -> dict:
    annotations = []
    for story_id, steps in stories.items():
        for order, text, photo in steps:
            annotations.append([{"story_id": story_id, "worker_arranged_photo_order": order, "original_text": text,
                                 "text": text.lower(), "photo_flickr_id": photo, "album_id": "1"}])
    random.Random(0).shuffle(annotations)
    return {"images": [], "albums": [], "type": "story_in_sequence", "annotations": annotations}


def test_vist_sis_orders_steps_uses_original_text_and_skips_broken_stories(tmp_path):
    photos = tmp_path / "images" / "val"  # the release splits photos into one folder per split
    photos.mkdir(parents=True)
    for i in range(6):
        (photos / f"{100 + i}.jpg").write_bytes(_jpg((i * 40, 0, 0)))
    data = _sis({
        "s1": [(2, "Then Bob came.", "102"), (0, "Alice went out.", "100"), (1, "She met a DOG.", "101")],
        "s2": [(0, "A photo is missing.", "999"), (1, "Next.", "103")],
        "s3": [(0, "Fine.", "104"), (1, "Also fine.", "105")],
    })
    data["annotations"].append([{"story_id": "s4", "original_text": "no order", "photo_flickr_id": "104"}])
    data["annotations"].append(["not an object"])
    (tmp_path / "sis.json").write_text(json.dumps(data))

    report = ReadReport("vist")
    stories = {s.story_id: s for s in read_vist_sis(tmp_path / "sis.json", tmp_path / "images", report)}
    assert set(stories) == {"s1", "s3"}
    assert stories["s1"].captions == ["Alice went out.", "She met a DOG.", "Then Bob came."]
    assert [r.path.name for r in stories["s1"].images] == ["100.jpg", "101.jpg", "102.jpg"]
    assert report.skipped == {"story with a missing photo": 1, "malformed annotation": 1,
                              "malformed story (missing order, text or photo id)": 1}

    specs = sample_specs(iter([stories["s1"]]), "multimodal", report)
    assert [s.step for s in specs] == [0, 1, 2]
    third = specs[2].build(random.Random(0))
    assert third.source.count(IMAGE_PLACEHOLDER) == 2 and len(third.input_images) == 2
    assert third.target == f"Then Bob came. {VOKENS} ###"
    assert "Alice went out." in third.source and "She met a DOG." in third.source
    with pytest.raises(MiniGPT5Error, match="understanding"):
        sample_specs(iter([stories["s1"]]), "understanding", report, need_output_image=True)


def test_vist_cleaned_with_image_map_counts_missing_images(tmp_path):
    (tmp_path / "val_images").mkdir()
    for name in ("000000000.jpg", "000000003.jpg", "000000004.jpg"):
        (tmp_path / "val_images" / name).write_bytes(_jpg())
    mapping = {"1": "val_images/000000000.jpg", "2": "val_images/000000003.jpg", "3": "val_images/000000004.jpg",
               "4": "val_images/000000099.jpg"}
    cleaned = {
        "45530": [{"caption": "Second.", "image_id": "2", "sequence_index": 1},
                  {"caption": "First.", "image_id": "1", "sequence_index": 0}],
        "45531": [{"caption": "Image file is gone.", "image_id": "4", "sequence_index": 0}],
        "45532": [{"caption": "Image id not in the map.", "image_id": "77", "sequence_index": 0}],
        "45533": [{"caption": "No index.", "image_id": "3"}],
    }
    (tmp_path / "val_cleaned.json").write_text(json.dumps(cleaned))
    (tmp_path / "val_image_mapping.json").write_text(json.dumps(mapping))
    report = ReadReport("vist-cleaned")
    stories = list(read_records({"format": "vist-cleaned", "path": str(tmp_path / "val_cleaned.json"),
                                 "image_map": str(tmp_path / "val_image_mapping.json")}, report))
    assert [(s.story_id, s.captions) for s in stories] == [("45530", ["First.", "Second."])]
    assert report.read == 1
    assert report.skipped == {"story with a missing image": 1, "image id not in the image map": 1,
                              "malformed story (needs caption, image_id, sequence_index)": 1}
    gen = sample_specs(iter(stories), "gen", report)[1].build(random.Random(0))
    assert gen.target == f"{VOKENS} ###" and "Generate an image with the scene description: Second." in gen.source


def test_vist_readers_skip_and_count_stories_whose_pictures_would_leave_the_folder(tmp_path):
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "passport.jpg").write_bytes(_jpg())
    photos = tmp_path / "images"
    photos.mkdir()
    (photos / "100.jpg").write_bytes(_jpg())
    (photos / "101.jpg").symlink_to(tmp_path / "private" / "passport.jpg")
    data = _sis({"fine": [(0, "Fine.", "100")], "climbs": [(0, "Out.", "../private/passport")],
                 "absolute": [(0, "Out.", str(tmp_path / "private" / "passport"))], "linked": [(0, "Out.", "101")],
                 "nul": [(0, "Out.", "10\x000")]})
    (tmp_path / "sis.json").write_text(json.dumps(data))
    report = ReadReport("vist")
    assert [s.story_id for s in read_vist_sis(tmp_path / "sis.json", photos, report)] == ["fine"]
    assert report.skipped == {"story with a picture outside the photo folder": 4}

    cleaned = {"fine": [{"caption": "Fine.", "image_id": "1", "sequence_index": "0"}],
               "climbs": [{"caption": "Out.", "image_id": "2", "sequence_index": 0}],
               "mixed": [{"caption": "Second.", "image_id": "1", "sequence_index": "10"},
                         {"caption": "First.", "image_id": "1", "sequence_index": 9}]}
    (photos / "map.json").write_text(json.dumps({"1": "100.jpg", "2": "../private/passport.jpg"}))
    (tmp_path / "cleaned.json").write_text(json.dumps(cleaned))
    report = ReadReport("vist-cleaned")
    stories = list(read_vist_cleaned(tmp_path / "cleaned.json", photos / "map.json", report))
    assert [(s.story_id, s.captions) for s in stories] == [("fine", ["Fine."]), ("mixed", ["First.", "Second."])]
    assert report.skipped == {"story with a picture outside the photo folder": 1}


def test_mmdialog_media_id_that_climbs_out_of_the_media_folder_is_skipped(tmp_path):
    (tmp_path / "secret.jpg").write_bytes(_jpg())
    media = tmp_path / "media"
    media.mkdir()
    (media / "1.jpg").write_bytes(_jpg())
    lines = [{"conversation_id": n, "conversation": [{"turn": [{"__TEXT__": "hi"}, {"__MEDIA__": key}]},
                                                     {"turn": [{"__TEXT__": "hello"}]}]}
             for n, key in enumerate(["1", "../secret", "1\x00"])]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    report = ReadReport("mmdialog")
    assert [d.dialog_id for d in read_mmdialog(tmp_path / "d.jsonl", media, report)] == ["0"]
    assert report.skipped == {"dialogue with a media id leading outside the media folder": 2}


# ---- MMDialog ---------------------------------------------------------------------------------------


def test_mmdialog_jsonl_text_and_media_turns(tmp_path):
    media = tmp_path / "test"
    media.mkdir()
    for key in ("2682085160072908899", "-5632896413199993329", "7"):
        (media / f"{key}.jpg").write_bytes(_jpg())
    lines = [
        {"conversation_id": 0, "conversation": [
            {"turn": [{"__TEXT__": "Post your skyline pic!"}, {"__MEDIA__": "2682085160072908899"}]},
            {"turn": [{"__TEXT__": "Stunning photo. Here is mine."}, {"__MEDIA__": "-5632896413199993329"},
                      {"__MEDIA__": "7"}]},
            {"turn": [{"__TEXT__": "Absolutely stunning!! :growing_heart:"}]},
        ]},
        {"conversation_id": 1, "conversation": [{"turn": [{"__TEXT__": "hi"}]},
                                                 {"turn": [{"__MEDIA__": "404"}]}]},
        {"conversation_id": 2, "conversation": [{"turn": [{"__TEXT__": "only one turn"}]}]},
        {"no_conversation": True},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n{not json\n"
    (tmp_path / "test_conversations.txt").write_text(text)
    report = ReadReport("mmdialog")
    dialogs = list(read_mmdialog(tmp_path / "test_conversations.txt", media, report))
    assert len(dialogs) == 1 and dialogs[0].dialog_id == "0"
    turns = dialogs[0].turns
    assert [t for t, _ in turns] == ["Post your skyline pic!", "Stunning photo. Here is mine.",
                                     "Absolutely stunning!! :growing_heart:"]
    assert [ref is not None for _, ref in turns] == [True, True, False]
    assert report.skipped == {"dialogue with a missing picture": 1, "dialogue with fewer than two turns": 1,
                              "malformed line": 2}
    assert report.dropped == {"extra pictures of a turn": 1} and "parts dropped" in report.summary()

    specs = sample_specs(iter(dialogs), None, report)
    assert [s.step for s in specs] == [1, 2]
    with_picture = specs[0].build(random.Random(0))
    assert with_picture.target == f"Stunning photo. Here is mine. {VOKENS} ###" and len(with_picture.input_images) == 1
    train_specs = sample_specs(iter(dialogs), None, report, need_output_image=True)
    assert [s.step for s in train_specs] == [1]
    assert report.skipped["dialogue answer without a picture (training needs one)"] == 1


# ---- the shapes world through the same readers, and the sample stream -----------------------------


def test_shapes_world_goes_through_the_real_readers(tmp_path):
    world = ShapesWorld(seed=3)
    tsv = write_shapes_cc3m_tsv(world, 4, tmp_path / "cc3m")
    report = ReadReport("shapes-cc3m")
    records = list(read_cc3m_tsv(tsv, report))
    assert [r.caption for r in records] == [world.caption_pair(i)[0] for i in range(4)]
    assert list(records[2].image.open().getdata()) == list(world.caption_pair(2)[1].convert("RGB").getdata())

    sis = write_shapes_vist_sis(world, 2, tmp_path / "vist")
    report = ReadReport("shapes-vist")
    stories = list(read_vist_sis(sis, tmp_path / "vist" / "images", report))
    assert report.skipped_total == 0
    assert [s.captions for s in stories] == [[step.narration for step in world.story(i)] for i in range(2)]


def test_sample_source_is_deterministic_sharded_and_resumable(tmp_path):
    world = ShapesWorld(seed=0)
    tsv = write_shapes_cc3m_tsv(world, 10, tmp_path)
    report = ReadReport("s")
    specs = sample_specs(read_cc3m_tsv(tsv, report), None, report)

    def captions(source, n):
        return [s.captions[0] for s in source.batch(n)]

    a0, a1 = SampleSource(specs, report, rank=0, world=2), SampleSource(specs, report, rank=1, world=2)
    first0, first1 = captions(a0, 5), captions(a1, 5)
    assert sorted(first0 + first1) == sorted(r.record.caption for r in specs)  # one epoch, split in two
    again = SampleSource(specs, report, rank=0, world=2)
    assert captions(again, 5) == first0
    cursor = again.cursor
    later = captions(again, 7)  # crosses into epoch 1 (reshuffled)
    resumed = SampleSource(specs, report, rank=0, world=2)
    resumed.seek(cursor)
    assert captions(resumed, 7) == later
    with pytest.raises(MiniGPT5Error, match="processes"):
        SampleSource(specs[:1], report, world=2)


def test_data_check_cli_reports_counts(tmp_path, capsys):
    from minigpt5_core.data.check import check

    (tmp_path / "ok.png").write_bytes(_png())
    (tmp_path / "bad.png").write_bytes(b"nope")
    (tmp_path / "c.tsv").write_text("a red square\tok.png\nbroken line\na grey square\tbad.png\n")
    assert check(["--format", "cc3m-tsv", "--path", str(tmp_path / "c.tsv"), "--decode"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["read"] == 2 and out["skipped"] == 1
    assert out["dropped"] == {"unreadable images (their samples will be skipped in training)": 1}
    assert check(["--format", "vist-sis", "--path", str(tmp_path / "c.tsv")]) == 2
    assert "needs 'images'" in capsys.readouterr().err
