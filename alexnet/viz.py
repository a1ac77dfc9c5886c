"""Pictures: sample photographs, channel grids, and stand-in activations for looking at LRN and pooling."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .conv1 import colour_specificity, column_split_test, conv1_kernels_by_column, conv1_structure


def sample_photo(name: str = "chelsea") -> torch.Tensor:
    """A real photograph that ships with scikit-image (no internet needed), as (3, H, W) float in [0, 1].

    ``name`` is any colour image in ``skimage.data``: ``chelsea`` (a cat), ``astronaut``, ``coffee``, ...
    """
    from skimage import data

    if not hasattr(data, name):
        raise ValueError(f"sample_photo: name must be an image in skimage.data, got {name!r}")
    image = np.asarray(getattr(data, name)())
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"sample_photo: {name!r} is not an RGB image (shape {image.shape})")
    return torch.from_numpy(image).permute(2, 0, 1).float().div(255.0)


def gabor_bank(num_orientations: int = 8, size: int = 11, wavelength: float = 5.0) -> torch.Tensor:
    """Oriented Gabor filters, the kind AlexNet's conv1 learns (paper, Figure 3): (2 * num_orientations, 3, size, size).

    For each orientation an even (cosine) and an odd (sine) filter, applied to luminance (equal RGB weights).
    """
    half = size // 2
    ys, xs = torch.meshgrid(torch.arange(-half, half + 1.0), torch.arange(-half, half + 1.0), indexing="ij")
    envelope = torch.exp(-(xs**2 + ys**2) / (2 * (size / 4) ** 2))
    filters = []
    for i in range(num_orientations):
        theta = math.pi * i / num_orientations
        u = xs * math.cos(theta) + ys * math.sin(theta)
        for phase in (torch.cos, torch.sin):
            g = envelope * phase(2 * math.pi * u / wavelength)
            g = g - g.mean()
            filters.append(g / g.norm())
    bank = torch.stack(filters)[:, None].expand(-1, 3, -1, -1) / 3.0
    return bank.contiguous()


def edge_responses(image: torch.Tensor, num_orientations: int = 8, stride: int = 2) -> torch.Tensor:
    """ReLU(Gabor bank * image): stand-in conv1 activations of a (3, H, W) image, as (1, C, H', W')."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"edge_responses: image must be (3, H, W), got shape {tuple(image.shape)}")
    bank = gabor_bank(num_orientations).to(image)
    # Reflect, not zero, padding: a zero border is an edge every filter would fire on.
    padded = F.pad(image[None], [bank.shape[-1] // 2] * 4, mode="reflect")
    return F.relu(F.conv2d(padded, bank, stride=stride))


def show_channels(rows: dict[str, torch.Tensor], channels: list[int], cmap: str = "magma", *,
                  separate: dict[str, float | None] | None = None):  # fmt: skip
    """Grid of feature maps: one row per named (1, C, H, W) tensor, one column per channel. Returns the figure.

    Every row shares one colour scale, drawn as a colourbar, so brightness compares across rows (after LRN is
    darker than before: LRN only shrinks values). Rows named in ``separate`` are in other units (a factor, say):
    each gets its own scale, from 0 to the value given (None: the row's maximum; a pair: from the first to the
    second), and its own colourbar. Pixels that are NaN are drawn grey.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize, PowerNorm

    separate = separate or {}

    def peak(maps):
        values = maps.detach().float()[0, channels].nan_to_num(0.0)
        return values.max().item() or 1.0

    # A square-root scale: ReLU maps are mostly small values with a few strong ones, which a linear scale hides.
    shared = PowerNorm(0.5, 0.0, max([peak(m) for t, m in rows.items() if t not in separate] or [1.0]))
    colour_map = plt.get_cmap(cmap).with_extremes(bad="0.75")
    fig, axes = plt.subplots(len(rows), len(channels), figsize=(2.2 * len(channels) + 1.0, 1.8 * len(rows)),
                             squeeze=False)  # fmt: skip
    groups: dict[int, list] = {}  # id(norm) -> [norm, image, axes]
    for r, (title, maps) in enumerate(rows.items()):
        maps = maps.detach().float().cpu()
        if title not in separate:
            norm = shared
        elif isinstance(separate[title], tuple):
            norm = Normalize(*separate[title])
        else:
            norm = Normalize(0.0, separate[title] or peak(maps))
        for c, channel in enumerate(channels):
            ax = axes[r, c]
            image = ax.imshow(maps[0, channel].numpy(), cmap=colour_map, norm=norm)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(title, fontsize=9)
            if r == 0:
                ax.set_title(f"channel {channel}", fontsize=9)
        groups.setdefault(id(norm), [norm, image, []])[2].extend(axes[r])
    for _norm, image, group in groups.values():
        fig.colorbar(image, ax=group, fraction=0.03, pad=0.02)
    return fig


def show_lrn(x: torch.Tensor, channels: list[int], size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
             k: float = 2.0, *, crop: int | None = None, **lrn_kwargs):  # fmt: skip
    """What LRN does to activations ``x`` (1, C, H, W): before and after on one colour scale, the factor each
    activation was multiplied by, ``(k + alpha * sum a_j^2) ** -beta`` (its own scale, fixed from 0 to 1 so that
    a change of beta or k shows; its ceiling is ``k ** -beta``), the damping by the neighbours alone (the factor
    over its ceiling: 1 where they are silent, lower where they fire; its scale starts at the lowest value shown,
    so that where LRN bites stands out), and the profile across every channel at the most active pixel. ``crop``:
    show only a square of this side around that pixel, where neighbouring channels compete. Returns the figure.

    Every parameter visibly moves something: beta and k the factor's ceiling and the "after" brightness, n and
    alpha where (and how much) the factor dips below its ceiling.
    """
    import kernels

    y = kernels.lrn(x, size, alpha, beta, k, **lrn_kwargs)
    factor = torch.where(x > 0, y / x.clamp_min(1e-30), torch.nan)
    ceiling = k**-beta
    energy = x[0].float().square().sum(0)  # where the channels fire together
    row, col = divmod(int(energy.argmax()), energy.shape[1])
    if crop is not None:
        top_row = min(max(row - crop // 2, 0), max(x.shape[2] - crop, 0))
        left = min(max(col - crop // 2, 0), max(x.shape[3] - crop, 0))
        window = (slice(None), slice(None), slice(top_row, top_row + crop), slice(left, left + crop))
        x, y, factor = x[window], y[window], factor[window]
        row, col = row - top_row, col - left
    top = max(1.0, float(factor.nan_to_num(0.0).max()))  # above 1 only for k < 1
    damping = factor / ceiling
    lowest = float(damping[0, channels].nan_to_num(1.0).min())
    rows = {"before LRN": x, "after LRN": y, "factor": factor, "damping by\nneighbours": damping}
    fig = show_channels(rows, channels, separate={"factor": top, "damping by\nneighbours": (lowest, 1.0)})
    profile = fig.add_axes((0.08, -0.3, 0.8, 0.25))
    channel_axis = torch.arange(x.shape[1])
    profile.plot(channel_axis, x[0, :, row, col].float().cpu(), "o-", ms=3, label="before LRN")
    profile.plot(channel_axis, y[0, :, row, col].float().cpu(), "o-", ms=3, label="after LRN")
    profile.set(xlabel="channel", ylabel="activation", ylim=(0, None),
                title=f"across channels at pixel ({row}, {col}): n={size}, alpha={alpha:.0e}, beta={beta:g}, "
                      f"k={k:g}; factor ceiling k^-beta = {ceiling:.2f}")  # fmt: skip
    profile.title.set_fontsize(9)
    profile.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------------------------- what it learned


def filter_grid(weight: torch.Tensor, per_column: int, normalize: str = "per-filter") -> torch.Tensor:
    """conv1 kernels (C, 3, k, k) as one RGB image: one row per column of the network, as the paper's Figure 3.

    normalize: ``"per-filter"`` stretches each kernel to [0, 1] (shows every kernel's shape), ``"global"`` uses
    one scale for all (shows which kernels are strong).
    """
    if normalize not in ("per-filter", "global"):
        raise ValueError(f"normalize must be 'per-filter' or 'global', got {normalize!r}")
    w = weight.detach().float().cpu()
    if normalize == "per-filter":
        lo = w.amin(dim=(1, 2, 3), keepdim=True)
        hi = w.amax(dim=(1, 2, 3), keepdim=True)
    else:
        lo, hi = w.min(), w.max()
    w = (w - lo) / (hi - lo).clamp_min(1e-12)
    k, pad = w.shape[-1], 1
    rows = -(-w.shape[0] // per_column)
    grid = torch.ones(3, rows * (k + pad) + pad, per_column * (k + pad) + pad)
    for i, kernel in enumerate(w):
        r, c = divmod(i, per_column)
        grid[:, pad + r * (k + pad) : pad + r * (k + pad) + k, pad + c * (k + pad) : pad + c * (k + pad) + k] = kernel
    return grid


def show_filters(model, normalize: str = "per-filter", ax=None):
    """Draw an AlexNet's conv1 kernels: column 0 in the top row, column 1 below (the paper's Figure 3)."""
    import matplotlib.pyplot as plt

    weight = model.conv1_weight()
    grid = filter_grid(weight, per_column=weight.shape[0] // 2, normalize=normalize)
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 1.2 * grid.shape[1] / grid.shape[2] * 12 / 1.2))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(
        f"conv1: {weight.shape[0]} kernels of {tuple(weight.shape[1:])} ({normalize} normalisation)", fontsize=9
    )
    return ax.figure


def show_conv1_progress(model, reference=None, *, label: str = "now", reference_label: str = "reference"):
    """conv1's kernels of ``model`` titled with their structure (:func:`conv1_structure`), and beside them
    ``reference``'s (e.g. the shipped weights: where 20 epochs get you), when given."""
    import matplotlib.pyplot as plt

    models = [(model, label)] + ([(reference, reference_label)] if reference is not None else [])
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 1.6), squeeze=False)
    for ax, (net, name) in zip(axes[0], models):
        show_filters(net, ax=ax)
        structure = conv1_structure(net)
        ax.set_title(f"{name}: smoothness {structure['smoothness']:.2f}, colour {structure['colour_specificity']:.2f}",
                     fontsize=9)  # fmt: skip
    return fig


LAYERS = ("conv1", "post1", "conv2", "post2", "conv3", "conv4", "conv5", "post5")


@torch.no_grad()
def activations(model, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every convolutional stage's output for one image (3, H, W), both columns concatenated: name -> (C, h, w)."""
    model.eval()
    captured: dict[str, list] = {name: [None, None] for name in LAYERS}
    handles = []
    for c, column in enumerate(model.columns):
        for name in LAYERS:

            def hook(_module, _inputs, output, name=name, c=c):
                captured[name][c] = output[0].detach().float().cpu()

            handles.append(getattr(column, name).register_forward_hook(hook))
    try:
        model(image[None].to(next(model.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    return {name: torch.cat(parts) for name, parts in captured.items() if parts[0] is not None}


def show_activation_maps(maps: dict[str, torch.Tensor], layer: str, channels: int = 16, start: int = 0,
                         image: torch.Tensor | None = None, title: str = "input"):  # fmt: skip
    """A grid of ``channels`` feature maps of ``layer`` starting at channel ``start``, after the input ``image``
    ((3, H, W) uint8) when it is given. Returns the figure."""
    import matplotlib.pyplot as plt

    if layer not in maps:
        raise ValueError(f"layer must be one of {list(maps)}, got {layer!r}")
    stack = maps[layer][start : start + channels]
    cols = min(8, len(stack))
    rows = -(-len(stack) // cols)
    extra = 0 if image is None else 2  # the input takes a 2x2 block on the left
    fig = plt.figure(figsize=(1.6 * (cols + extra), 1.6 * max(rows, extra)))
    grid = fig.add_gridspec(max(rows, extra), cols + extra)
    if image is not None:
        ax = fig.add_subplot(grid[:2, :2])
        ax.imshow(image.permute(1, 2, 0).numpy())
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    for i, fmap in enumerate(stack):
        ax = fig.add_subplot(grid[i // cols, extra + i % cols])
        ax.imshow(fmap.numpy(), cmap="viridis")
        ax.set_title(f"{layer}[{start + i}]", fontsize=7)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


@torch.no_grad()
def embed(model, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The last hidden layer (fc7 of both columns: 4096-d for the paper's AlexNet) of each image: (N, D)."""
    model.eval()
    device = next(model.parameters()).device
    out = [torch.cat(model.forward_features(images[i : i + batch_size].to(device)), dim=1).cpu()
           for i in range(0, len(images), batch_size)]  # fmt: skip
    return torch.cat(out)


def nearest_neighbours(queries: torch.Tensor, pool: torch.Tensor, k: int = 6) -> torch.Tensor:
    """Indices (Q, k) of the k rows of ``pool`` closest in Euclidean distance to each query (the paper's Figure 4)."""
    return torch.cdist(queries, pool).topk(k, largest=False).indices


def show_neighbours(query_images: torch.Tensor, pool_images: torch.Tensor, indices: torch.Tensor, titles=None,
                    query_titles=None):  # fmt: skip
    """Figure 4: each row a query image, then its nearest training images by fc7 distance. Images uint8 (N,3,H,W);
    ``titles``: the pool images' class names, ``query_titles``: the queries'."""
    import matplotlib.pyplot as plt

    q, k = indices.shape
    fig, axes = plt.subplots(q, k + 1, figsize=(1.4 * (k + 1), 1.4 * q), squeeze=False)
    for r in range(q):
        axes[r, 0].imshow(query_images[r].permute(1, 2, 0).numpy())
        axes[r, 0].set_title(f"query: {query_titles[r]}" if query_titles is not None else "query", fontsize=7)
        for c in range(k):
            axes[r, c + 1].imshow(pool_images[indices[r, c]].permute(1, 2, 0).numpy())
            if titles is not None:
                axes[r, c + 1].set_title(titles[int(indices[r, c])], fontsize=6)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def figure4(model, queries, pool, *, num_queries: int = 4, pool_size: int = 10_000, k: int = 6, seed: int = 0):
    """The paper's Figure 4 on two data sets (prepared by their ``transform``s, with ``images``, ``labels`` and
    ``classes``): ``num_queries`` images spread over ``queries`` and, for each, the ``k`` images of a random sample
    of ``pool_size`` from ``pool`` whose last hidden layer is closest. Returns the figure."""
    picks = torch.linspace(0, len(queries) - 1, num_queries).long()
    sample = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:pool_size]
    query_x = torch.stack([queries[int(i)][0] for i in picks])
    pool_x = torch.stack([pool[int(i)][0] for i in sample])
    neighbours = nearest_neighbours(embed(model, query_x), embed(model, pool_x), k=k)
    names = [pool.classes[int(pool.labels[int(i)])] for i in sample]
    query_names = [queries.classes[int(queries.labels[int(i)])] for i in picks]
    return show_neighbours(queries.images[picks], pool.images[sample], neighbours, titles=names,
                           query_titles=query_names)  # fmt: skip


def plot_training(history: list[dict], epochs: list[dict] | None = None, axes=None, validation=None):
    """Loss and top-1/top-5 error per step (smoothed), with the validation error at each epoch's end (on every
    validation image) and ``validation``'s points: ``{"images": n, "points": [(step, top-1 error), ...]}``, the
    dashboard's quick measure on a fixed subset."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    ax_loss, ax_err = axes
    ax_loss.clear(), ax_err.clear()
    if history:
        steps = [r["step"] for r in history]
        window = max(1, len(history) // 50)

        def smooth(key):
            values = torch.tensor([r[key] for r in history], dtype=torch.float64)
            return values.unfold(0, window, 1).mean(1).tolist() if len(values) >= window else values.tolist()

        xs = steps[window - 1 :]
        ax_loss.plot(xs, smooth("loss"), lw=1)
        ax_err.plot(xs, smooth("top1_err"), lw=1, label="train top-1")
        ax_err.plot(xs, smooth("top5_err"), lw=1, label="train top-5")
    if validation and validation["points"]:
        xs, ys = zip(*validation["points"])
        ax_err.plot(xs, ys, "s-", color="tab:red", ms=4, lw=1,
                    label=f"validation top-1 ({validation['images']:,} images)")  # fmt: skip
    at_epoch_end = [r for r in epochs or [] if "val_top1_err" in r]
    if at_epoch_end:
        ax_err.plot([r["step"] for r in at_epoch_end], [r["val_top1_err"] for r in at_epoch_end], "ko", ms=5,
                    label="validation top-1 (all images, epoch end)")  # fmt: skip
        ax_err.plot([r["step"] for r in at_epoch_end], [r["val_top5_err"] for r in at_epoch_end], "k^", ms=5,
                    label="validation top-5 (epoch end)")  # fmt: skip
    ax_loss.set_xlabel("step"), ax_loss.set_ylabel("training loss")
    ax_err.set_xlabel("step"), ax_err.set_ylabel("error"), ax_err.set_ylim(0, 1)
    if history:
        ax_err.legend(fontsize=7)
        losses = [r["loss"] for r in history]
        if min(losses) > 0 and max(losses) / min(losses) > 20:
            ax_loss.set_yscale("log")  # a loss that blew up to 1e11 does not flatten the rest of the run
    else:
        for ax in (ax_loss, ax_err):
            ax.text(0.5, 0.5, "no steps yet:\npress Start in the dashboard", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")  # fmt: skip
    ax_loss.figure.tight_layout()
    return ax_loss.figure


def plot_benchmark(path) -> object:
    """Horizontal bars of a benchmark JSON from ``benchmarks/results/`` (as ``benchmarks/_common.py`` writes it):
    median time per provider, p20-p80 as error bars, one group per shape / dtype / pass. Returns the figure."""
    import json

    import matplotlib.pyplot as plt

    result = json.loads(open(path).read())
    rows = result["rows"]
    providers = sorted({r["provider"] for r in rows})
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    ys = range(len(rows))[::-1]
    for y, r in zip(ys, rows):
        colour = f"C{providers.index(r['provider'])}"
        err = [[r["ms"] - r.get("ms_p20", r["ms"])], [r.get("ms_p80", r["ms"]) - r["ms"]]]
        ax.barh(y, r["ms"], xerr=err, color=colour, label=r["provider"])
        ax.text(r.get("ms_p80", r["ms"]), y, f"  {r['ms']:.1f} ms", va="center", fontsize=8)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([f"{r['shape']} {r['dtype']}, {r['mode']}" for r in rows], fontsize=8)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    meta = result["meta"]
    ax.set_xlabel(f"ms (median; bars p20-p80): {meta.get('command', '')}", fontsize=8)
    ax.set_title(f"{meta.get('op')} on {meta['device']}", fontsize=9)
    ax.margins(x=0.2)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------- Figure 3's split


def show_colour_specificity(model, ax=None):
    """Figure 3's claim, measured: each column's conv1 kernels sorted by colour specificity, side by side."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    columns = conv1_kernels_by_column(model)
    for index, kernels in enumerate(columns):
        values = colour_specificity(kernels).sort(descending=True).values
        positions = torch.arange(len(values)) + index * (len(values) + 4)
        ax.bar(positions.numpy(), values.numpy(), width=0.9, label=f"column {index}")
    test = column_split_test(*(colour_specificity(k) for k in columns), permutations=2000)
    ax.set(ylabel="colour specificity", ylim=(0, 1), xticks=[],
           xlabel=f"conv1 kernels of each column, sorted by specificity ({len(columns[0])} per column)",
           title=f"conv1 colour specificity: means {test['mean_first']:.2f} vs {test['mean_second']:.2f} "
                 f"(permutation p = {test['p_value']:.3g})")  # fmt: skip
    ax.legend(fontsize=8)
    return ax


def plot_fusion_traffic(rows: list[dict], shape) -> object:
    """Bars of the bytes ReLU -> LRN -> max-pool moves as three ops and fused (``kernels.workshop.fusion_traffic``)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    passes = [row["pass_"] for row in rows]
    y = np.arange(len(rows))
    ax.barh(y + 0.2, [row["separate"] / 1e6 for row in rows], 0.4, label="ReLU, LRN, max-pool: three kernels")
    ax.barh(y - 0.2, [row["fused"] / 1e6 for row in rows], 0.4, label="one fused kernel")
    for i, row in enumerate(rows):
        ax.text(row["separate"] / 1e6, i + 0.2, f"  {row['ratio']:.1f}x", va="center")
    ax.set_yticks(y, passes)
    ax.set_xlabel(f"MB moved at {'x'.join(map(str, shape))} (fp32, each tensor read and written once)")
    ax.legend(loc="lower right", fontsize=8)
    ax.margins(x=0.15)
    fig.tight_layout()
    return fig
