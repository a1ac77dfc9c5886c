"""Training across devices and processes: the paper's column split, data parallelism, and both at once.

Single process (the paper's own scheme): :func:`place_columns` puts column 0 on one device and column 1 on
another; activations cross only where the columns connect (into conv3, fc6, fc7, fc8). ``("cpu", "cpu")`` and
``("cuda:0", "cuda:0")`` work too, so the split is testable anywhere.

Several processes (launched by ``torchrun``, NCCL on GPUs, gloo on CPUs), chosen with ``mode``:

``data``     every rank holds the whole network (DistributedDataParallel) and a slice of each global batch.
``columns``  2 ranks; each owns one column. At each cross-column layer the two ranks all-gather their
             activations with an autograd-aware collective (backward sums the gradient over the ranks and keeps
             each rank's slice): the paper's two-GPU scheme across processes and machines.
``hybrid``   2P ranks: pairs (2p, 2p+1) split the columns, and the P pairs split the data; each column's gradients
             are averaged over the P ranks that hold it. Scales to any even number of GPUs.

Every mode writes the same checkpoint as single-process training: the full network's parameters by name, and
the optimizer's momentum by parameter name, saved once by rank 0. So a run can be resumed in any other layout.

Global batches are split as contiguous slices, so a distributed step sees exactly the samples of the
single-process step (the job of DistributedSampler, kept compatible with the exact-resume loader).
"""

from __future__ import annotations

import atexit
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

import torch
import torch.distributed as dist
import torch.nn as nn

from .choices import PARALLEL_LAYOUTS
from .model import AlexNet, column_forward

_JOINED = False  # set by init_distributed: this process is a rank of a torchrun job
MODES = PARALLEL_LAYOUTS[1:]  # the layouts of a torchrun job ("none" is one process)


def place_columns(model: AlexNet, devices) -> AlexNet:
    """Put an already built AlexNet's column 0 on ``devices[0]`` and column 1 on ``devices[1]``."""
    if not isinstance(model, AlexNet):
        raise TypeError(f"place_columns: model must be an AlexNet, got {type(model).__name__}")
    return model.place(devices)


def transfer_bytes_per_step(model: AlexNet, batch_size: int, bytes_per_value: int = 4) -> dict[str, int]:
    """Bytes each column sends to the other per training step (forward activations + backward gradients).

    Follows the paper's connectivity: conv2 maps into conv3, conv5 features into fc6, fc6 into fc7, fc7 into
    fc8, and fc8's logits back (for the loss). Each tensor crosses once forward, its gradient once backward.
    """
    cfg = model.config
    sides = cfg.map_sides()
    per_sample = {
        "conv2 -> conv3": cfg.widths[1] * sides["pool2"] ** 2,
        "conv5 -> fc6": cfg.widths[4] * sides["pool5"] ** 2,
        "fc6 -> fc7": cfg.fc_width,
        "fc7 -> fc8": cfg.fc_width,
        "fc8 -> logits": cfg.fc8_split[1],
    }
    out = {name: 2 * values * batch_size * bytes_per_value for name, values in per_sample.items()}
    out["total"] = sum(out.values())
    return out


# ----------------------------------------------------------------------------------------------- processes


@dataclass
class DistContext:
    """This process's place in a torchrun job."""

    mode: str
    rank: int
    world: int
    device: torch.device
    column: int | None = None  # the column this rank owns (columns/hybrid)
    column_group: object = None  # the pair of ranks that together hold one network
    data_group: object = None  # the ranks that hold the same column (hybrid) or everything (data)
    data_rank: int = 0
    data_world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def loss_scale(self) -> float:
        # In column modes both ranks of a pair compute the same loss and the gathers sum gradients over the
        # pair: halve each rank's loss so that the pair's sum is the true gradient.
        return 0.5 if self.mode in ("columns", "hybrid") else 1.0


def shutdown_distributed() -> None:
    """Leave the job's process group, if this process is in one (safe to call twice)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def joined() -> bool:
    """Whether this process joined a torchrun job (:func:`init_distributed`), whatever it did since."""
    return _JOINED


def exit_rank(code: int) -> NoReturn:
    """End a torchrun rank without the interpreter's shutdown: leave the group, run the exit handlers, flush the
    standard streams, then ``os._exit(code)``.

    Why: gloo's worker threads outlive ``destroy_process_group`` while Python objects (a DDP model, the job's
    groups) still reference the group. A worker that releases a finished collective a moment after the script's
    end may have to decref a tensor's Python object, so it takes the GIL while the interpreter finalizes; Python
    then exits the thread inside a C++ destructor and the process aborts with "terminate called without an active
    exception" (1 in 30-90 two-rank runs here; a core dump's backtrace: ProcessGroupGloo::runLoop ->
    ~AsyncAllreduceWork -> TensorImpl::decref_pyobject -> take_gil -> PyThread_exit_thread -> std::terminate).
    Everything a rank writes is already on disk (atomic, fsynced), so skipping finalization loses nothing.
    """
    shutdown_distributed()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def init_distributed(mode: str, timeout_s: float = 120.0) -> DistContext:
    """Join the torchrun job described by RANK/WORLD_SIZE/LOCAL_RANK; NCCL with GPUs, else gloo.

    ``timeout_s`` bounds every collective: a rank that dies makes the others fail instead of hanging. The group
    is destroyed at exit, whichever way the process ends, as PyTorch asks (pytorch/pytorch#190489); a rank that
    finishes should still end through :func:`exit_rank`, which also keeps gloo's threads out of the interpreter's
    shutdown.
    """
    if mode not in MODES:
        raise ValueError(f"parallel mode must be one of {MODES}, got {mode!r}")
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise RuntimeError("init_distributed: run under torchrun (RANK and WORLD_SIZE are not set)")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if mode == "columns" and world != 2:
        raise ValueError(f"--parallel columns needs exactly 2 processes (one per column), got {world}")
    if mode == "hybrid" and world % 2:
        raise ValueError(f"--parallel hybrid needs an even number of processes (pairs hold the columns), got {world}")
    use_cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        global _JOINED
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(seconds=timeout_s))
        atexit.register(shutdown_distributed)
        _JOINED = True
    ctx = DistContext(mode=mode, rank=rank, world=world, device=device)
    if mode == "data":
        ctx.data_group, ctx.data_rank, ctx.data_world = dist.group.WORLD, rank, world
        return ctx
    pairs = [list(range(p, p + 2)) for p in range(0, world, 2)]
    columns = [list(range(c, world, 2)) for c in (0, 1)]
    # new_group must be called by every rank for every group, in the same order.
    pair_groups = [dist.new_group(ranks) for ranks in pairs]
    column_groups = [dist.new_group(ranks) for ranks in columns]
    ctx.column = rank % 2
    ctx.column_group = pair_groups[rank // 2]
    ctx.data_group, ctx.data_rank, ctx.data_world = column_groups[ctx.column], rank // 2, world // 2
    return ctx


class _GatherColumns(torch.autograd.Function):
    """Concatenate the pair's tensors along dim 1 on both ranks; backward sums over the pair, keeps own slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, group, sizes: tuple[int, int], index: int) -> torch.Tensor:
        ctx.group, ctx.sizes, ctx.index = group, sizes, index
        width = max(sizes)
        x = x.contiguous()
        if x.shape[1] < width:  # fc8's halves differ by one class when num_classes is odd
            x = torch.cat([x, x.new_zeros(x.shape[0], width - x.shape[1], *x.shape[2:])], dim=1)
        parts = [torch.empty_like(x) for _ in sizes]
        dist.all_gather(parts, x, group=group)
        return torch.cat([p[:, :s] for p, s in zip(parts, sizes)], dim=1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        dist.all_reduce(grad, group=ctx.group)
        start = sum(ctx.sizes[: ctx.index])
        return grad[:, start : start + ctx.sizes[ctx.index]], None, None, None


class ColumnParallel(nn.Module):
    """One rank's share of an AlexNet whose columns live on two ranks (the paper's scheme across processes).

    Both ranks of the pair call forward on the same batch and both get the full logits.
    """

    def __init__(self, model: AlexNet, ctx: DistContext) -> None:
        super().__init__()
        self.model, self.ctx = model, ctx
        self.column = model.columns[ctx.column].to(ctx.device)

    def _gather(self, x: torch.Tensor, sizes=None) -> torch.Tensor:
        sizes = sizes or (x.shape[1], x.shape[1])
        return _GatherColumns.apply(x, self.ctx.column_group, sizes, self.ctx.column)

    def _exchange(self, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self._gather(parts[0])]  # this rank's column is the only one here: all-gather with the other

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.model._input(x.to(self.ctx.device))
        (logits,) = column_forward([self.column], [x], self._exchange)
        return self._gather(logits, self.model.config.fc8_split)

    def trainable(self) -> list[nn.Parameter]:
        return list(self.column.parameters())


def wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    """The module this rank trains: DDP for ``data``, :class:`ColumnParallel` for the column modes."""
    if ctx.mode == "data":
        model = model.to(ctx.device)
        return nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device] if ctx.device.type == "cuda" else None
        )
    if not isinstance(model, AlexNet):
        raise TypeError(f"--parallel {ctx.mode} splits AlexNet's columns; got {type(model).__name__}")
    return ColumnParallel(model, ctx)


def trainable_parameters(wrapped: nn.Module) -> list[nn.Parameter]:
    return wrapped.trainable() if isinstance(wrapped, ColumnParallel) else list(wrapped.parameters())


def shard(x: torch.Tensor, y: torch.Tensor, ctx: DistContext) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's contiguous slice of a global batch (pairs in column modes share a slice)."""
    size = x.shape[0]
    if size % ctx.data_world:
        raise ValueError(f"the global batch ({size}) must divide evenly over {ctx.data_world} data-parallel ranks")
    chunk = size // ctx.data_world
    start = ctx.data_rank * chunk
    return x[start : start + chunk], y[start : start + chunk]


def average_gradients(params: list[nn.Parameter], ctx: DistContext) -> None:
    """Average the gradients of this rank's column over the ranks that hold it (hybrid mode's data axis)."""
    if ctx.mode != "hybrid" or ctx.data_world == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad, group=ctx.data_group)
            p.grad /= ctx.data_world


def reduce_mean(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Average scalar metrics over all ranks."""
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    return {k: v / ctx.world for k, v in zip(keys, t.tolist())}


def base_model(wrapped: nn.Module) -> nn.Module:
    """The full network behind a wrapper (what checkpoints describe)."""
    if isinstance(wrapped, nn.parallel.DistributedDataParallel):
        return wrapped.module
    if isinstance(wrapped, ColumnParallel):
        return wrapped.model
    return wrapped


def full_state(wrapped: nn.Module, named_state: dict[str, torch.Tensor], ctx: DistContext | None) -> dict:
    """Merge each rank's own column entries (keys ``columns.<c>.``) into one name-keyed dict on every rank."""
    if ctx is None or ctx.mode == "data":
        return named_state
    own = f"columns.{ctx.column}."
    mine = {k: v.detach().cpu() for k, v in named_state.items() if k.startswith(own)}
    gathered = [None] * ctx.world
    dist.all_gather_object(gathered, mine)
    merged = {}
    for part in gathered[:2]:  # the first pair holds a whole network; other pairs hold copies
        merged.update(part)
    return merged


# ----------------------------------------------------------------------------------------------- strategies


class Strategy:
    """How a :class:`alexnet.train.Trainer` runs: here, in one process on one device, or with a two-column
    AlexNet already placed on two devices (``AlexNet(devices=...)``). Subclasses run across processes.

    The Trainer calls every method on every step, whatever the strategy: wrap the model, shard the global batch,
    scale the loss, finish the gradients, reduce the metrics, gather the state for a checkpoint, and say which
    process writes files.
    """

    collective = False  # checkpoints need every process (a collective gather), not only the one that writes
    is_main = True  # this process writes logs and checkpoints
    loss_scale = 1.0

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)

    def wrap(self, model: nn.Module) -> nn.Module:
        return model if getattr(model, "devices", None) else model.to(self.device)

    def parameters(self, wrapped: nn.Module) -> list[nn.Parameter]:
        """The parameters this process updates."""
        return list(wrapped.parameters())

    def base(self, wrapped: nn.Module) -> nn.Module:
        """The whole network behind ``wrapped`` (what checkpoints describe)."""
        return base_model(wrapped)

    def shard(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, y

    def finish_gradients(self, params: list[nn.Parameter]) -> None:
        """After backward: whatever averaging the layout needs before the optimizer steps."""

    def reduce(self, values: dict[str, float]) -> dict[str, float]:
        """Metrics of this step, averaged over the processes that computed parts of it."""
        return values

    def full_state(self, wrapped: nn.Module, named_state: dict[str, torch.Tensor]) -> dict:
        """The whole network's entries of a name-keyed state (parameters or momentum)."""
        return named_state


class Distributed(Strategy):
    """A torchrun job (:func:`init_distributed`): ``data`` (DDP), ``columns`` or ``hybrid``."""

    collective = True

    def __init__(self, ctx: DistContext) -> None:
        super().__init__(ctx.device)
        self.ctx = ctx
        self.is_main, self.loss_scale = ctx.is_main, ctx.loss_scale

    def wrap(self, model: nn.Module) -> nn.Module:
        return wrap(model, self.ctx)

    def parameters(self, wrapped: nn.Module) -> list[nn.Parameter]:
        return trainable_parameters(wrapped)

    def shard(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return shard(x, y, self.ctx)

    def finish_gradients(self, params: list[nn.Parameter]) -> None:
        average_gradients(params, self.ctx)

    def reduce(self, values: dict[str, float]) -> dict[str, float]:
        return reduce_mean(values, self.ctx)

    def full_state(self, wrapped: nn.Module, named_state: dict[str, torch.Tensor]) -> dict:
        return full_state(wrapped, named_state, self.ctx)


def strategy_for(ctx: DistContext | None, device: str | torch.device = "cpu") -> Strategy:
    """The strategy of a torchrun job's context, or of one process on ``device``."""
    return Strategy(device) if ctx is None else Distributed(ctx)
