"""alexnet.viz: the pictures the notebooks draw, checked by what they compute (Figure 3's grid, activation maps,
Figure 4's embedding and neighbours, the edge filters of notebook 1). Figure 3's colour analysis: test_figure3.py."""

import matplotlib
import pytest
import torch

from alexnet import conv1, viz
from alexnet.model import ModelSpec

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def model():
    return ModelSpec("cifar-alexnet", dict(num_classes=10, init="modern", backend="torch")).build(seed=0).eval()


def test_filter_grid_lays_out_one_row_per_column_and_normalises():
    weight = torch.randn(6, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    grid = viz.filter_grid(weight, per_column=3)
    assert grid.shape == (3, 2 * 6 + 1, 3 * 6 + 1)  # 1-pixel borders between 5x5 kernels
    first = grid[:, 1:6, 1:6]  # kernel 0, stretched to [0, 1] on its own
    assert first.min() == 0 and first.max() == 1
    torch.testing.assert_close(first, (weight[0] - weight[0].min()) / (weight[0].max() - weight[0].min()))
    overall = viz.filter_grid(weight, per_column=3, normalize="global")
    cells = [(1 + 6 * r, 1 + 6 * c) for r in (0, 1) for c in (0, 1, 2)]
    inside = torch.cat([overall[:, y : y + 5, x : x + 5].flatten() for y, x in cells])
    assert inside.min() == 0 and inside.max() == 1  # one scale for all: only the extreme kernels reach 0 and 1
    with pytest.raises(ValueError, match="normalize must be"):
        viz.filter_grid(weight, 3, normalize="nope")


def test_activations_capture_every_stage_of_both_columns(model):
    image = torch.randn(3, 32, 32)
    maps = viz.activations(model, image)
    assert list(maps) == list(viz.LAYERS)
    widths = model.config.widths
    assert maps["conv1"].shape == (2 * widths[0], 32, 32) and maps["post1"].shape == (2 * widths[0], 15, 15)
    assert maps["conv5"].shape[0] == 2 * widths[4] and maps["post5"].shape == (2 * widths[4], 3, 3)
    with torch.no_grad():  # conv1's maps are conv1 applied to the image, column 0 first
        expected = torch.cat([column.conv1(image[None])[0] for column in model.columns])
    torch.testing.assert_close(maps["conv1"], expected)


def test_embedding_is_both_columns_fc7_and_neighbours_are_nearest(model):
    images = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    codes = viz.embed(model, images, batch_size=2)
    assert codes.shape == (5, 2 * model.config.fc_width)
    with torch.no_grad():
        torch.testing.assert_close(codes, torch.cat(model.forward_features(images), dim=1))
    pool = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [0.0, 2.0]])
    queries = torch.tensor([[0.1, 0.0], [4.0, 4.0]])
    assert viz.nearest_neighbours(queries, pool, k=2).tolist() == [[0, 1], [2, 3]]
    assert viz.nearest_neighbours(codes, codes, k=1).flatten().tolist() == list(range(5))  # itself first


def test_edge_filters_respond_most_to_edges_of_their_orientation():
    bank = viz.gabor_bank(num_orientations=4)
    assert bank.shape == (8, 3, 11, 11)  # an even and an odd filter per orientation, on luminance
    torch.testing.assert_close(bank.sum(dim=(1, 2, 3)), torch.zeros(8), atol=1e-5, rtol=0)  # no response to flat
    stripes = torch.zeros(3, 48, 48)
    stripes[:, :, ::5] = 255.0  # vertical lines, one wavelength apart
    responses = viz.edge_responses(stripes, num_orientations=4)
    assert responses.shape[:2] == (1, 8) and (responses >= 0).all()  # ReLU'd
    energy = responses.flatten(2).square().mean(2)[0].view(4, 2).sum(1)  # per orientation
    assert energy.argmax() == 0 and energy[2] < 0.01 * energy[0]  # vertical tuning, not horizontal
    with pytest.raises(ValueError, match=r"image must be \(3, H, W\)"):
        viz.edge_responses(torch.zeros(1, 8, 8))


def test_figures_draw_from_real_models_and_maps(model):
    assert viz.show_filters(model) is not None
    maps = viz.activations(model, torch.randn(3, 32, 32))
    fig = viz.show_activation_maps(maps, "conv2", channels=5, start=3)
    assert sum(ax.has_data() for ax in fig.axes) == 5
    with pytest.raises(ValueError, match="layer must be one of"):
        viz.show_activation_maps(maps, "fc9")
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    fig = viz.show_neighbours(images[:2], images, torch.tensor([[0, 1], [2, 3]]), titles=list("abcdef"))
    assert len(fig.axes) == 2 * 3
    history = [dict(step=i + 1, loss=2.0 - 0.1 * i, top1_err=0.9 - 0.05 * i, top5_err=0.5) for i in range(5)]
    fig = viz.plot_training(history, [dict(epoch=0, step=5, val_top1_err=0.8, val_top5_err=0.4)])
    assert [len(ax.lines) for ax in fig.axes] == [1, 4]


def test_figure4_queries_spread_over_the_set_and_neighbours_come_from_the_pool(model):
    from .test_train import synthetic_sets

    train, val = synthetic_sets(n_train=40, n_val=12)
    fig = viz.figure4(model, val, train, num_queries=3, pool_size=10, k=4)
    assert len(fig.axes) == 3 * 5
    titles = [ax.get_title() for ax in fig.axes if ax.get_title() and not ax.get_title().startswith("query")]
    assert len(titles) == 3 * 4 and set(titles) <= set(train.classes)
    picks = torch.linspace(0, len(val) - 1, 3).long()  # each query is titled with its own class
    queries = [ax.get_title() for ax in fig.axes if ax.get_title().startswith("query")]
    assert queries == [f"query: {val.classes[int(val.labels[int(i)])]}" for i in picks]


def _images_by_row(fig, rows: int, cols: int):
    """The AxesImage of each grid cell, row by row (the colourbars' axes come after the grid's)."""
    grid = fig.axes[: rows * cols]
    return [[ax.get_images()[0] for ax in grid[r * cols : (r + 1) * cols]] for r in range(rows)]


def test_lrn_pictures_share_one_colour_scale_so_after_is_darker():
    import kernels

    x = torch.rand(1, 8, 12, 12) * 200
    y = kernels.lrn(x, 5, 1e-4, 0.75, 2.0)
    fig = viz.show_channels({"before": x, "after": y}, [0, 3, 5])
    images = _images_by_row(fig, 2, 3)
    norms = {(im.norm.vmin, im.norm.vmax) for row in images for im in row}
    assert len(norms) == 1 and norms.pop()[1] == pytest.approx(float(x[0, [0, 3, 5]].max()))
    assert len(fig.axes) == 2 * 3 + 1  # one colourbar for the whole figure
    before, after = (im.get_array().mean() for im in (images[0][0], images[1][0]))
    assert after < before  # drawn on the same scale, LRN's shrinking shows


def test_show_lrn_draws_the_factor_on_a_fixed_scale_that_moves_with_beta():
    x = torch.rand(1, 8, 12, 12) * 200
    figs = {beta: viz.show_lrn(x, [0, 3], beta=beta) for beta in (0.75, 1.25)}
    factor = {beta: _images_by_row(fig, 4, 2)[2] for beta, fig in figs.items()}
    for row in factor.values():
        assert {(im.norm.vmin, im.norm.vmax) for im in row} == {(0.0, 1.0)}
    assert factor[1.25][0].get_array().mean() < factor[0.75][0].get_array().mean()
    assert factor[0.75][0].get_array().max() <= 2.0**-0.75 + 1e-6  # the ceiling k^-beta
    profile = figs[0.75].axes[-1]
    assert profile.get_xlabel() == "channel" and len(profile.get_lines()) == 2


def test_plot_training_says_what_to_do_before_any_step_and_logs_a_blown_up_loss():
    fig = viz.plot_training([])
    assert any("press Start" in t.get_text() for t in fig.axes[0].texts)
    history = [dict(step=i, loss=2.3 if i < 9 else 1e11, top1_err=0.9, top5_err=0.5) for i in range(10)]
    assert viz.plot_training(history).axes[0].get_yscale() == "log"


def test_activation_maps_show_the_input_they_belong_to(model):
    image = (torch.rand(3, 32, 32) * 255).byte()
    maps = viz.activations(model, image.float())
    fig = viz.show_activation_maps(maps, "conv1", channels=8, image=image, title="a cat")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "a cat" and titles[1:] == [f"conv1[{i}]" for i in range(8)]


def test_benchmark_bars_label_every_row_and_provider(tmp_path):
    import json

    rows = [dict(shape="2x3", dtype="float32", mode=mode, provider=p, ms=ms, ms_p20=ms * 0.9, ms_p80=ms * 1.1)
            for mode in ("forward", "forward+backward") for p, ms in (("ours", 1.0), ("eager", 2.0))]  # fmt: skip
    path = tmp_path / "b.json"
    path.write_text(json.dumps(dict(rows=rows, meta=dict(op="lrn", device="cpu", command="bench"))))
    ax = viz.plot_benchmark(path).axes[0]
    assert len(ax.get_yticklabels()) == 4 and sorted(t.get_text() for t in ax.get_legend().get_texts()) == [
        "eager", "ours"]  # fmt: skip


def test_plot_training_keeps_a_linear_loss_axis_for_an_ordinary_run():
    history = [dict(step=i, loss=2.3 - 0.01 * i, top1_err=0.9, top5_err=0.5) for i in range(10)]
    assert viz.plot_training(history).axes[0].get_yscale() == "linear"


def test_spatial_smoothness_is_near_zero_for_random_kernels_and_near_one_for_smooth_ones():
    gen = torch.Generator().manual_seed(0)
    random = torch.randn(64, 3, 5, 5, generator=gen)
    assert abs(conv1.spatial_smoothness(random).mean().item()) < 0.05
    ramp = torch.linspace(-1, 1, 5)
    smooth = (ramp[None, None, :, None] * ramp[None, None, None, :]).expand(4, 3, 5, 5) + 0.0
    assert conv1.spatial_smoothness(smooth).min().item() > 0.7
    checkers = (torch.arange(5)[:, None] + torch.arange(5)[None, :]) % 2 * 2.0 - 1
    assert conv1.spatial_smoothness(checkers.expand(1, 3, 5, 5)).item() < -0.5
    with pytest.raises(ValueError, match="kernels must be"):
        conv1.spatial_smoothness(torch.zeros(3, 5, 5))


def test_conv1_structure_of_the_shipped_weights_is_far_from_random(model):
    import alexnet

    untrained = conv1.conv1_structure(model)
    shipped = conv1.conv1_structure(alexnet.pretrained("cifar-alexnet-cifar10"))
    assert abs(untrained["smoothness"]) < 0.1 and abs(untrained["colour_specificity"] - 2 / 3) < 0.1
    assert shipped["smoothness"] > untrained["smoothness"] + 0.2


def test_the_damping_row_stretches_where_lrn_bites_and_the_crop_centres_on_the_strongest_pixel():
    x = torch.zeros(1, 8, 40, 40)
    x[0, 2:6, 30:34, 5:9] = 300.0  # neighbouring channels firing together in one corner
    x[0, :, :20, 20:] = 5.0  # weak activations elsewhere
    fig = viz.show_lrn(x, [3, 4], crop=16)
    images = _images_by_row(fig, 4, 2)
    assert images[0][0].get_array().shape == (16, 16)
    damping = images[3][0]
    assert damping.norm.vmax == 1.0 and damping.norm.vmin < 0.5  # the scale starts where LRN bites hardest
    values = damping.get_array()
    assert values[~values.mask].min() == pytest.approx(damping.norm.vmin)
    assert fig.axes[-1].get_title().startswith("across channels at pixel (")
