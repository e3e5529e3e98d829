"""Dataset formats, torch-free: the real file formats -> records -> `TrainingSample`s (MINIGPT5_SPEC.md §5).

| format          | files                                                      | record        |
|-----------------|------------------------------------------------------------|---------------|
| `cc3m-tsv`      | TSV `caption<TAB>image_path` (optional header), images     | CaptionRecord |
| `cc3m-wds`      | img2dataset webdataset shards `*.tar`: KEY.jpg/png + KEY.txt/json | CaptionRecord |
| `vist-sis`      | VIST raw story-in-sequence JSON + photo folder             | StoryRecord   |
| `vist-cleaned`  | MiniGPT-5 cleaned VIST JSON + image id -> path map         | StoryRecord   |
| `mmdialog`      | MMDialog JSON lines (`conversation` of `turn`s of `__TEXT__`/`__MEDIA__`) + media folder | DialogRecord |

Readers never stop on a broken record: they skip it, count it by reason in a `ReadReport` and go on,
so that one bad line in three million does not end a run, and the count says how much was lost.
Images are not decoded while reading (that would read a whole dataset up front); a record holds
`ImageRef`s, and an image that exists but does not decode is skipped and counted when a sample is
built from it (`SampleSource`).

The shapes world goes through the same readers (`shapes_export`). `storybook` reads VIST stories through
here too, so this package never imports torch.

    records        what readers yield (CaptionRecord, StoryRecord, DialogRecord, ImageRef) and the ReadReport
    cc3m, vist, mmdialog   one reader module per dataset
    samples        records -> TrainingSample, the seeded resumable SampleSource
    check          the command below

    python -m minigpt5_core.data --format cc3m-tsv --path cc3m/train.tsv [--decode]   check a dataset
"""

from .cc3m import read_cc3m_shards, read_cc3m_tsv
from .mmdialog import read_mmdialog
from .records import CaptionRecord, DataError, DialogRecord, ImageRef, ReadReport, StoryRecord
from .samples import SampleSource, SampleSpec, read_records, sample_specs
from .vist import read_vist_cleaned, read_vist_sis

__all__ = ["CaptionRecord", "DataError", "DialogRecord", "ImageRef", "ReadReport", "SampleSource", "SampleSpec",
           "StoryRecord", "read_cc3m_shards", "read_cc3m_tsv", "read_mmdialog", "read_records", "read_vist_cleaned",
           "read_vist_sis", "sample_specs"]
