"""reconloss.train: the fit loop, atomic checkpoints with resume, DDP under torchrun.

Example:
    >>> import torch, tempfile
    >>> from reconloss.train import TrainConfig, TensorTask, fit
    >>> x = torch.rand(16, 3, 8, 8)
    >>> task = TensorTask(x, x, x[:4], x[:4])
    >>> cfg = TrainConfig(steps=3, batch_size=4, progress=False, threads=1)
    >>> res = fit(cfg, task, tempfile.mkdtemp(), model=lambda: torch.nn.Conv2d(3, 3, 3, padding=1),
    ...           loss=torch.nn.L1Loss(), eval_fn=lambda m, t: {"mae": 0.0})
    >>> res.history["eval"][-1]["step"]
    3
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig, add_dataclass_arguments, config_diff, config_hash, dataclass_from_args
from .distributed import init_distributed, is_main_process, leave_group, spread_grid
from .loop import FitResult, NonFiniteLossError, evaluate_task, fit, resolve_device
from .task import TensorTask

__all__ = [
    "TrainConfig",
    "TensorTask",
    "fit",
    "FitResult",
    "CheckpointError",
    "NonFiniteLossError",
    "spread_grid",
    "init_distributed",
    "leave_group",
    "is_main_process",
    "add_dataclass_arguments",
    "dataclass_from_args",
    "config_hash",
    "config_diff",
    "evaluate_task",
    "resolve_device",
    "load_checkpoint",
    "save_checkpoint",
]
