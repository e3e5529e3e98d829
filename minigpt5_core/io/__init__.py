"""Files on disk, below the model: our folder format, safetensors shards, and safe reading of pickles.

    folder    atomic writing of a model folder, its config.json
    weights   tensors to and from (sharded) safetensors files
    readers   other people's files: torch pickles with weights_only=True, lazy safetensors

This layer knows file names and tensors, never the `MiniGPT5` class: the model builds itself from what it reads.
"""
