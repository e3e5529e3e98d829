"""`python -m fsdp_on_cpu <trainer args>`: the trainer under accelerate's FSDP2 plugin in CPU processes (gloo).

accelerate picks its FSDP mode only for accelerator launches: `AcceleratorState` turns an FSDP plugin into
`DistributedType.FSDP` under MULTI_GPU/NPU/XPU/..., never under MULTI_CPU, although torch's FSDP2 (`fully_shard`,
DTensor, distributed checkpoints) runs on CPU with gloo. This launcher makes that one choice the way a GPU launch
makes it (same plugin, same mixed-precision hand-over) and then runs the trainer unchanged: the sharding, the
gathering, the checkpoints and the resume are accelerate's and torch's real code paths.
"""

from __future__ import annotations

import sys

from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType

_accelerator_state_init = AcceleratorState.__init__


def _init_choosing_fsdp_on_cpu(self, *args, fsdp_plugin=None, **kwargs):
    _accelerator_state_init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        self.distributed_type = DistributedType.FSDP
        if self._mixed_precision != "no":
            fsdp_plugin.set_mixed_precision(self._mixed_precision)
        self.fsdp_plugin = fsdp_plugin
        PartialState._shared_state["distributed_type"] = self.distributed_type


AcceleratorState.__init__ = _init_choosing_fsdp_on_cpu

if __name__ == "__main__":
    from minigpt5_core.train.trainer import main

    sys.exit(main(sys.argv[1:]))
