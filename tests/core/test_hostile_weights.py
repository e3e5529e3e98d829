"""Weight files are read only as the safetensors format defines them: an entry whose byte range does not
match its shape, ranges that overlap or leave gaps, and a tensor stored in two shards are refused with one
message naming the file, instead of loading uninitialised memory or whichever copy is read last."""

from __future__ import annotations

import json
import struct

import pytest
from safetensors.numpy import load_file, save_file

from minigpt5_core import MiniGPT5, MiniGPT5Error
from minigpt5_core.io.weights import SafetensorsReader


def raw_safetensors(path, entries: dict, data_bytes: int):
    header = json.dumps(entries).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\1" * data_bytes)
    return path


@pytest.mark.parametrize("entries, data_bytes", [
    ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, 8),  # 8 bytes for 16
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12),  # b overlaps a
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, 12),  # a gap between them
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, 8),  # bytes that no entry covers
], ids=["shorter-than-shape", "overlapping", "gap", "uncovered-tail"])
def test_entries_that_break_the_format_are_refused(tmp_path, entries, data_bytes):
    path = raw_safetensors(tmp_path / "model.safetensors", entries, data_bytes)
    with pytest.raises(MiniGPT5Error, match=r"model.safetensors cannot be read as safetensors .*re-download"):
        SafetensorsReader(path)


def test_a_tensor_stored_in_two_shards_is_refused(tiny_model, tmp_path):
    folder = tmp_path / "m"
    tiny_model.save_pretrained(folder, max_shard_bytes=2**20)
    first, second = sorted(folder.glob("model-*.safetensors"))[:2]
    extra_key = next(iter(load_file(first)))
    save_file({**load_file(second), extra_key: load_file(first)[extra_key]}, str(second))
    with pytest.raises(MiniGPT5Error, match=rf"tensor '{extra_key}' is stored twice, in {first.name} and "
                                            rf"{second.name}"):
        MiniGPT5.from_pretrained(folder)
