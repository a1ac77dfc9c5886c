"""cuda-convnet's CIFAR-10 networks and recipe (alexnet.cuda_convnet, alexnet.experiments.lrn_overlap): shapes and
parameter counts from the cfg files, the locally connected layer against a float64 loop, the update rule by hand,
the schedule, the multiview test, and a killed run resumed to the same weights."""

import itertools
from types import SimpleNamespace

import pytest
import torch

from alexnet.cuda_convnet import VARIANTS, CudaConvnetCIFAR, LocallyConnected2d, pooled_side
from alexnet.experiments import lrn_overlap as study
from alexnet.experiments._results import cpu_model, machine_name
from alexnet.model import count_parameters
from alexnet.schedules import PhasedLR


def _hand_count(local3_filters: int) -> int:
    """From the cfg files: conv 5x5 (64, 64), local 3x3 at each of 6x6 positions with a bias per output unit."""
    conv1 = 3 * 5 * 5 * 64 + 64
    conv2 = 64 * 5 * 5 * 64 + 64
    local3 = 36 * (64 * 3 * 3) * local3_filters + 36 * local3_filters
    local4 = 36 * (local3_filters * 3 * 3) * 32 + 36 * 32
    fc10 = 32 * 6 * 6 * 10 + 10
    return conv1 + conv2 + local3 + local4 + fc10


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_networks_take_24x24_crops_pool_to_12_and_6_and_have_the_cfg_files_parameter_count(variant):
    net = CudaConvnetCIFAR(variant, backend="torch")
    assert count_parameters(net) == _hand_count(64 if variant == "11pct" else 32)
    sides = []
    net.local3.register_forward_hook(lambda _m, inputs, _out: sides.append(inputs[0].shape[-1]))
    net.conv2.register_forward_hook(lambda _m, inputs, _out: sides.append(inputs[0].shape[-1]))
    assert net(torch.randn(2, 3, 24, 24)).shape == (2, 10)
    assert sides == [12, 6]
    with pytest.raises(ValueError, match=r"\(N, 3, 24, 24\)"):
        net(torch.randn(2, 3, 32, 32))


def test_the_13pct_counts_are_the_published_ones():
    assert _hand_count(32) == 1_116_490 and _hand_count(64) == 2_112_970
    assert pooled_side(24, 3, 2) == 12 and pooled_side(12, 3, 2) == 6 and pooled_side(24, 2, 2) == 12


def _loop_reference(layer: LocallyConnected2d, x: torch.Tensor) -> torch.Tensor:
    """y[n, f, i, j] = b[f, i, j] + sum_{c,u,v} W[i, j, f, c, u, v] x_pad[n, c, i s + u, j s + v], position by
    position, in float64."""
    w, b = layer.weight.double(), layer.bias.double()
    x = torch.nn.functional.pad(x.double(), [layer.padding] * 4)
    k, s, side = layer.kernel_size, layer.stride, layer.output_size
    rows = []
    for i in range(side):
        cols = []
        for j in range(side):
            patch = x[:, :, i * s : i * s + k, j * s : j * s + k]  # (N, C, k, k)
            cols.append(torch.einsum("ncuv,fcuv->nf", patch, w[i, j]) + b[:, i, j])
        rows.append(torch.stack(cols, -1))
    return torch.stack(rows, -2)


@pytest.mark.parametrize("stride, padding, size", [(1, 1, 6), (2, 0, 7), (1, 0, 5)])
def test_locally_connected_forward_and_backward_match_a_float64_loop(stride, padding, size):
    torch.manual_seed(0)
    layer = LocallyConnected2d(3, 4, 3, size, stride=stride, padding=padding, init_std=0.5)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(2, 3, size, size, requires_grad=True)
    y = layer(x)
    ref = _loop_reference(layer, x)
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)
    dy = torch.randn_like(y)
    grads = torch.autograd.grad(y, (x, layer.weight, layer.bias), dy)
    ref_grads = torch.autograd.grad(ref, (x, layer.weight, layer.bias), dy.double())
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got.double(), want.double(), rtol=1e-5, atol=1e-5)


def test_locally_connected_weights_are_not_shared_between_positions():
    layer = LocallyConnected2d(1, 1, 1, 2, init_std=1.0)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]).view(2, 2, 1, 1, 1, 1))
    assert layer(torch.ones(1, 1, 2, 2)).flatten().tolist() == [1.0, 2.0, 3.0, 4.0]


def test_locally_connected_gradcheck_in_float64():
    layer = LocallyConnected2d(2, 2, 3, 4, padding=1).double()
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


def test_bad_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="does not fit input_size"):
        LocallyConnected2d(3, 4, 5, 3)
    with pytest.raises(ValueError, match="must be >= 1"):
        LocallyConnected2d(0, 4, 3, 6)
    with pytest.raises(ValueError, match=r"x must be \(N, 3, 6, 6\)"):
        LocallyConnected2d(3, 4, 3, 6)(torch.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="variant must be one of"):
        CudaConvnetCIFAR("12pct")


def test_update_rule_keeps_the_increment_in_weight_units_by_hand():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = study.CudaConvnetSGD([w], lr=0.1, momentum=0.9, weight_decay=0.5)
    grads = [torch.tensor([0.2, 0.4]), torch.tensor([-1.0, 1.0])]
    inc, expected = torch.zeros(2), torch.tensor([1.0, -2.0])
    for step, g in enumerate(grads):
        lr = 0.1 if step == 0 else 0.01  # the schedule divides epsW by 10 after the first step
        opt.param_groups[0]["lr"] = lr
        inc = 0.9 * inc - lr * (g + 0.5 * expected)  # inc = mom inc - eps (grad + wc W)
        expected = expected + inc
        w.grad = g.clone()
        opt.step()
    torch.testing.assert_close(w.detach(), expected)
    # by hand: step 1: inc = -0.1 * (0.2 + 0.5, 0.4 - 1.0) = (-0.07, 0.06), w = (0.93, -1.94)
    #          step 2: inc = 0.9 * inc - 0.01 * (-1 + 0.465, 1 - 0.97) = (-0.05765, 0.0537)
    torch.testing.assert_close(w.detach(), torch.tensor([0.87235, -1.8863]))


def test_param_groups_give_weights_epsw_and_decay_and_biases_epsb_only_and_the_schedule_scales_epsw():
    net = CudaConvnetCIFAR("11pct", backend="torch")
    groups = {g["name"]: g for g in study.param_groups(net)}
    assert groups["conv1.weight"]["weight_decay"] == 0 and groups["local3.weight"]["weight_decay"] == 0.004
    assert groups["fc10.weight"]["weight_decay"] == 0.01 and groups["fc10.bias"]["weight_decay"] == 0
    assert {g["lr"] for n, g in groups.items() if n.endswith("bias")} == {0.002}
    opt = study.CudaConvnetSGD(study.param_groups(net), lr=0.001)
    PhasedLR(lambda epoch: 0.01).start_epoch(SimpleNamespace(epoch=0, optimizer=opt))
    assert {g["lr"] for g in opt.param_groups if g["name"].endswith("weight")} == {1e-5}
    assert {g["lr"] for g in opt.param_groups if g["name"].endswith("bias")} == {0.002}  # biases keep theirs


def test_schedules_change_data_range_and_rate_at_the_right_epochs():
    s13, s11 = study.schedule_of("13pct"), study.schedule_of("11pct")
    assert study.schedule_of("13pct-nonoverlap") == s13 and study.total_epochs(s13) == 160
    assert study.total_epochs(s11) == 520
    at = {e: study.phase_at(s13, e) for e in (1, 100, 101, 140, 141, 150, 151, 160)}
    assert [at[e].images for e in (100, 101)] == ["batches 1-4", "batches 1-5"]
    assert [at[e].lr_factor for e in (140, 141, 150, 151, 160)] == [1.0, 0.1, 0.1, 0.01, 0.01]
    assert study.phase_at(s11, 350).images == "batches 1-4" and study.phase_at(s11, 351).images == "batches 1-5"
    assert study.phase_at(s11, 501).lr_factor == 0.1 and study.phase_at(s11, 511).lr_factor == 0.01
    with pytest.raises(ValueError, match="past the end of the schedule"):
        study.phase_at(s13, 161)
    with pytest.raises(ValueError, match="variant must be one of"):
        study.schedule_of("nope")


def test_crops_are_flipped_or_plain_windows_minus_the_mean():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    mean = torch.rand(3, 24, 24) * 100
    centre = study.crops(images, mean, None)
    torch.testing.assert_close(centre, images[:, :, 4:28, 4:28].float() - mean)
    out = study.crops(images, mean, torch.Generator().manual_seed(0)) + mean
    for n in range(6):
        windows = [images[n, :, y : y + 24, x : x + 24].float() for y, x in itertools.product(range(9), range(9))]
        assert any(torch.equal(out[n], w) or torch.equal(out[n], w.flip(-1)) for w in windows)


def test_multiview_averages_the_softmax_of_the_ten_views_on_a_hand_made_model():
    class TopLeftPixel(torch.nn.Module):  # logits that depend on which view it is given
        def forward(self, x):
            v = x[:, 0, 0, 0]
            return torch.stack([v, -v], 1) / 50

    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 0, 1, 0])
    mean = torch.zeros(3, 24, 24)
    corners = [(0, 0), (0, 8), (8, 0), (8, 8), (4, 4)]
    probs = []
    for y, x in corners:
        crop = images[:, :, y : y + 24, x : x + 24].float()
        for view in (crop, crop.flip(-1)):
            probs.append(torch.softmax(TopLeftPixel()(view), 1))
    expected = (torch.stack(probs).mean(0).argmax(1) != labels).float().mean().item()
    got = study.test_error(TopLeftPixel(), images, labels, mean, multiview=True)
    assert got == pytest.approx(expected)
    centre = (TopLeftPixel()(images[:, :, 4:28, 4:28].float()).argmax(1) != labels).float().mean().item()
    assert study.test_error(TopLeftPixel(), images, labels, mean) == pytest.approx(centre)


def _tiny_data():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(64) % 10
    train = (torch.rand(64, 3, 32, 32, generator=gen) * 60 + labels[:, None, None, None] * 20).to(torch.uint8)
    test = train[:20].clone()
    return study.Data.from_tensors(train, labels, test, labels[:20].clone(), held_out=16)


def test_a_killed_run_resumes_to_the_same_weights(tmp_path):
    data = _tiny_data()
    whole = study.train_run("13pct+lrn", 0, data, epochs=3, batch_size=16, backend="torch", progress=False)

    class Killed(Exception):
        pass

    def die_after_two(record):
        if len(record["history"]) == 2:
            raise Killed

    state = tmp_path / "state.pt"
    with pytest.raises(Killed):
        study.train_run("13pct+lrn", 0, data, epochs=3, batch_size=16, backend="torch", progress=False,
                        state_path=state, on_epoch=die_after_two)  # fmt: skip
    resumed = study.train_run("13pct+lrn", 0, data, epochs=3, batch_size=16, backend="torch", progress=False,
                              state_path=state)  # fmt: skip
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(resumed["history"]) == strip(whole["history"])
    assert resumed["final_test_error"] == whole["final_test_error"]
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3] and "val_error" in resumed["history"][0]
    assert all(0 <= r["train_eval_error"] <= 1 for r in resumed["history"])  # measured like the test error
    assert {r["machine"] for r in resumed["history"]} == {machine_name("cpu")}  # each epoch says where it ran


def test_the_study_writes_results_refuses_to_overwrite_and_resumes(tmp_path):
    data = _tiny_data()
    plan = (("13pct", 1), ("13pct-nonoverlap", 1))
    results = study.run_study(data, tmp_path, plan=plan, epochs=1, backend="torch", progress=False, max_runs=1)
    assert list(results["runs"]) == ["13pct:0"] and results["runs"]["13pct:0"]["finished"]
    first_curves = (tmp_path / "curves.png").read_bytes()  # drawn after every finished run
    with pytest.raises(FileExistsError, match="resume=True"):
        study.run_study(data, tmp_path, plan=plan, epochs=1, backend="torch", progress=False)
    with pytest.raises(ValueError, match="epochs=1, not 2"):
        study.run_study(data, tmp_path, plan=plan, epochs=2, backend="torch", progress=False, resume=True)
    results = study.run_study(data, tmp_path, plan=plan, epochs=1, backend="torch", progress=False, resume=True)
    assert sorted(results["runs"]) == ["13pct-nonoverlap:0", "13pct:0"]
    assert (tmp_path / "curves.png").read_bytes() != first_curves  # redrawn with the second run
    assert not list((tmp_path / "state").iterdir())  # finished runs leave no state behind
    rows = {r["variant"]: r for r in study.summary(study.load(tmp_path / "results.json"))}
    assert rows["13pct"]["seeds_finished"] == 1 and rows["13pct"]["centre"]["median"] >= 0


def test_the_study_runs_seed_by_seed_and_the_long_schedule_last(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(study.study, "train_run", lambda variant, seed, *a, **k: ran.append((variant, seed)) or dict(
        variant=variant, seed=seed, finished=True, history=[], wall_s=0.0))  # fmt: skip
    study.run_study(_tiny_data(), tmp_path, plan=study.PLAN, progress=False)
    assert ran[:4] == [("13pct", 0), ("13pct+lrn", 0), ("13pct-nonoverlap", 0), ("13pct", 1)]
    assert ran[-1] == ("11pct", 0) and len(ran) == 10


def test_a_resumed_study_finishes_the_run_it_began_before_starting_a_new_one(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(study.study, "train_run", lambda variant, seed, *a, **k: ran.append((variant, seed)) or dict(
        variant=variant, seed=seed, finished=True, history=[], wall_s=0.0))  # fmt: skip
    begun = dict(variant="13pct-nonoverlap", seed=1, finished=False, history=[], wall_s=1.0)
    done = {f"{v}:0": dict(variant=v, seed=0, finished=True, history=[], wall_s=1.0) for v, _ in study.PLAN[:3]}
    study.save(dict(schema=study.SCHEMA, runs={**done, "13pct-nonoverlap:1": begun}, epochs_override=None),
               tmp_path / "results.json")  # fmt: skip
    study.run_study(_tiny_data(), tmp_path, plan=study.PLAN, progress=False, resume=True)
    assert ran[:3] == [("13pct-nonoverlap", 1), ("13pct", 1), ("13pct+lrn", 1)]
    assert len(ran) == 7 and ran[-1] == ("11pct", 0)


def test_channels_last_trains_the_same_network_in_another_memory_format_and_resumes_in_it(tmp_path):
    data = _tiny_data()
    args = dict(epochs=2, batch_size=16, backend="torch", progress=False)
    plain = study.train_run("13pct+lrn", 0, data, **args)
    nhwc = study.train_run("13pct+lrn", 0, data, memory_format="channels_last", **args)
    assert "memory_format" not in plain and nhwc["memory_format"] == "channels_last"
    for a, b in zip(plain["history"], nhwc["history"]):  # fp32 either way: the same sums in another order
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
    state = tmp_path / "state.pt"

    def stop(record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study.train_run("13pct+lrn", 0, data, memory_format="channels_last", state_path=state, on_epoch=stop, **args)
    assert torch.load(state, weights_only=True)["key"]["memory_format"] == "channels_last"
    resumed = study.train_run("13pct+lrn", 0, data, memory_format="channels_last", state_path=state, **args)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(resumed["history"]) == strip(nhwc["history"])  # exactly, in its own format
    with pytest.raises(ValueError, match="memory_format must be one of"):
        study.train_run("13pct", 0, data, memory_format="nhwc", **args)


def test_a_run_begun_in_one_memory_format_continues_in_it(tmp_path, monkeypatch):
    formats = {}

    def fake_run(variant, seed, *a, memory_format, **k):
        formats[f"{variant}:{seed}"] = memory_format
        return dict(variant=variant, seed=seed, finished=True, history=[], wall_s=0.0)

    monkeypatch.setattr(study.study, "train_run", fake_run)
    begun = dict(variant="13pct", seed=0, epochs=160, history=[{}], finished=False, wall_s=1.0)  # no format: NCHW
    study.save(dict(schema=study.SCHEMA, runs={"13pct:0": begun}, environment={}, epochs_override=None),
               tmp_path / "results.json")  # fmt: skip
    study.run_study(_tiny_data(), tmp_path, plan=(("13pct", 2),), resume=True, progress=False,
                    memory_format="channels_last")  # fmt: skip
    assert formats == {"13pct:0": "contiguous", "13pct:1": "channels_last"}


def _finished(variant, seed, multiview, history=()):
    return dict(variant=variant, seed=seed, finished=True, final_test_error=dict(centre=multiview, multiview=multiview),
                history=list(history) or [dict(epoch=1, train_error=0.1, test_error=multiview, seconds=1.0)],
                wall_s=1.0)  # fmt: skip


def test_compare_pairs_seeds_and_says_when_a_difference_is_inside_the_seed_noise():
    runs = {f"{v}:{s}": _finished(v, s, e) for v, s, e in [
        ("13pct", 0, 0.13), ("13pct", 1, 0.14), ("13pct", 2, 0.12),
        ("13pct+lrn", 0, 0.125), ("13pct+lrn", 1, 0.135), ("13pct+lrn", 2, 0.13)]}  # fmt: skip
    result = study.compare(dict(runs=runs), "13pct", "13pct+lrn")
    assert result["seeds"] == [0, 1, 2] and result["differences"] == pytest.approx([-0.005, -0.005, 0.01])
    assert result["mean"] == pytest.approx(0.0) and result["inside_noise"] is True
    assert (result["noise"], result["noise_variant"], result["noise_seeds"]) == (pytest.approx(0.02), "13pct", 3)
    assert study.comparison_line(result) == ("13pct+lrn - 13pct (multiview test error): +0.00 points on average over "
                                             "3 seeds (-0.50, -0.50, +1.00); inside the seed noise (the spread of "
                                             "13pct over 3 seeds, 2.00 points)")  # fmt: skip
    runs.update({f"13pct+lrn:{s}": _finished("13pct+lrn", s, e) for s, e in [(0, 0.10), (1, 0.105), (2, 0.095)]})
    result = study.compare(dict(runs=runs), "13pct", "13pct+lrn")
    assert result["mean"] == pytest.approx(-0.03) and result["inside_noise"] is False
    assert study.compare(dict(runs=runs), "13pct", "11pct")["mean"] is None  # nothing to pair
    two = {name: run for name, run in runs.items() if run["seed"] < 2}  # two seeds: the range says little
    line = study.comparison_line(study.compare(dict(runs=two), "13pct", "13pct+lrn"))
    assert line.endswith("larger than the seed noise (the spread of 13pct over 2 seeds, 1.00 points: a rough estimate)")
    runs["11pct:0"] = _finished("11pct", 0, 0.10)  # one seed: judged against 13pct's spread, and says so
    result = study.compare(dict(runs=runs), "13pct", "11pct")
    assert result["differences"] == pytest.approx([-0.03]) and result["unmeasured_noise"] == ["11pct"]
    assert study.comparison_line(result) == (
        "11pct - 13pct (multiview test error): -3.00 points on average over 1 seed (-3.00); larger than the seed "
        "noise (the spread of 13pct over 3 seeds, 2.00 points); 11pct has one finished seed, so its own seed noise "
        "is not in that estimate")


def test_compare_gap_pairs_the_last_epochs_train_test_gap():
    def run(variant, seed, train_error, test_error):
        return _finished(variant, seed, 0.2, [dict(epoch=1, train_error=0.4, test_error=0.5, seconds=1.0),
                                              dict(epoch=2, train_error=train_error, test_error=test_error,
                                                   seconds=1.0)])  # fmt: skip

    runs = {"13pct:0": run("13pct", 0, 0.10, 0.18), "13pct-nonoverlap:0": run("13pct-nonoverlap", 0, 0.05, 0.19)}
    result = study.compare(dict(runs=runs), "13pct", "13pct-nonoverlap", which="gap")
    assert result["differences"] == pytest.approx([0.14 - 0.08])  # the last epoch's, not the first's
    assert study.comparison_line(result).startswith("13pct-nonoverlap - 13pct (train-test gap): +6.00 points")
    with pytest.raises(ValueError, match="which must be"):
        study.compare(dict(runs=runs), "13pct", "13pct-nonoverlap", which="top5")


def test_plot_draws_every_run_and_the_gap():
    history = [dict(epoch=e, train_error=0.5 / e, test_error=0.6 / e, seconds=1.0) for e in range(1, 4)]
    runs = {"13pct:0": _finished("13pct", 0, 0.2, history), "13pct:1": _finished("13pct", 1, 0.2, history),
            "11pct:0": _finished("11pct", 0, 0.2, history)}  # fmt: skip
    fig = study.plot(dict(runs=runs))
    errors, gaps = fig.axes
    assert len(errors.get_lines()) == 3 and len(gaps.get_lines()) == 3  # 3 epochs: no phase change reached yet
    long = [dict(epoch=e, train_error=0.1, test_error=0.2, seconds=1.0) for e in range(1, 161)]
    fig = study.plot(dict(runs={"13pct:0": _finished("13pct", 0, 0.2, long)}))
    assert len(fig.axes[0].get_lines()) == 1 + 3  # the run, then +batch 5 at 100, /10 at 140, /100 at 150
    assert sorted(t.get_text() for t in errors.get_legend().get_texts()) == ["11pct", "13pct"]


def test_summary_table_and_comparison_lines_say_what_has_run():
    runs = {"13pct:0": _finished("13pct", 0, 0.13), "13pct+lrn:0": _finished("13pct+lrn", 0, 0.12)}
    runs["13pct:1"] = dict(variant="13pct", seed=1, finished=False, wall_s=5.0,
                           history=[dict(epoch=1, train_error=0.5, test_error=0.6, seconds=30.0)])  # fmt: skip
    table = study.markdown_summary(dict(runs=runs, environment=dict(device="x86_64 CPU, 2 threads")))
    assert "| `13pct` | 1 of 2 | 1, 1 | 13.0% | 13.0% |" in table and "x86_64 CPU" in table
    planned = study.summary(dict(runs=runs), study.PLAN)  # every planned variant, counted against its seeds
    assert [row["variant"] for row in planned] == [variant for variant, _ in study.PLAN]
    table = study.markdown_summary(dict(runs=runs), plan=study.PLAN)
    assert "| `13pct` | 1 of 3 | 1, 1 | 13.0% | 13.0% |" in table
    assert "| `11pct` | 0 of 1 | not begun | - | - | - | - | - |" in table
    assert "| 0.1 min |" in table  # the two 13pct runs' 6 s: not "0.0 h"
    assert study.summary_line(planned[2]) == "13pct-nonoverlap: 0 of 3 runs finished (not begun)"
    line = study.comparison_line(study.compare(dict(runs=runs), "13pct", "13pct+lrn"))
    assert "-1.00 points on average over 1 seed (-1.00)" in line and "no noise estimate" in line
    assert "not measured yet" in study.comparison_line(study.compare(dict(runs=runs), "13pct", "11pct"))


def test_seconds_per_epoch_are_told_apart_by_the_machine_each_epoch_ran_on():
    history = [dict(epoch=e, train_error=0.1, test_error=0.2, seconds=30.0) for e in range(1, 4)]
    history += [dict(epoch=e, train_error=0.1, test_error=0.2, seconds=60.0 + e, machine="AMD EPYC (AVX2), 2 threads")
                for e in range(4, 7)]  # fmt: skip
    runs = {"13pct:0": _finished("13pct", 0, 0.2, history)}
    row = study.summary(dict(runs=runs))[0]
    assert row["seconds_by_machine"] == {"unrecorded": 30.0, "AMD EPYC (AVX2), 2 threads": 65.0}
    assert row["seconds_per_epoch"]["median"] == 47.0  # all six epochs together: (30 + 64) / 2
    table = study.markdown_summary(dict(runs=runs))
    assert table.endswith("Median s/epoch by machine: `13pct` 65 on AMD EPYC (AVX2), 2 threads.")
    assert "by machine" not in study.markdown_summary(dict(runs={"13pct:0": _finished("13pct", 0, 0.2)}))


def test_remaining_estimates_each_unfinished_run_at_its_variants_pace_per_image():
    def epoch(n, images, seconds):
        return dict(epoch=n, images=images, train_error=0.1, test_error=0.2, seconds=seconds)

    # 1,000 training images: an epoch on batches 1-4 trains on 800; every timed epoch ran at 0.01 s per image,
    # and the runs spent twice their training time in all (evaluation, saving).
    first = _finished("13pct", 0, 0.2, [epoch(1, "batches 1-4", 8.0), epoch(2, "batches 1-5", 10.0)])
    first["wall_s"] = 36.0
    begun = dict(variant="13pct", seed=1, finished=False, wall_s=1600.0,
                 history=[epoch(n, "batches 1-4", 8.0) for n in range(1, 101)])  # fmt: skip
    results = dict(runs={"13pct:0": first, "13pct:1": begun}, environment=dict(train_images=1000))
    rows = study.remaining(results, plan=(("13pct", 3), ("13pct+lrn", 1)))
    assert [(r["variant"], r["seed"], r["epochs_done"], r["epochs_left"]) for r in rows] == [
        ("13pct", 1, 100, 60), ("13pct", 2, 0, 160), ("13pct+lrn", 0, 0, 160)]  # the finished seed 0 is not left
    # seed 1: 60 epochs on batches 1-5; seed 2: 100 on batches 1-4 and 60 on 1-5; x 0.01 s per image x 2.
    assert rows[0]["hours"] == pytest.approx(60 * 1000 * 0.01 * 2 / 3600)
    assert rows[1]["hours"] == pytest.approx((100 * 800 + 60 * 1000) * 0.01 * 2 / 3600)
    assert rows[2]["hours"] is None  # no epoch of 13pct+lrn yet: no pace to go by
    assert study.remaining_line(rows) == (
        "Left in the plan: 13pct seed 1: 60 of 160 epochs left, ~0.3 h; 13pct seed 2: 160 epochs, ~0.8 h; "
        "13pct+lrn seed 0: 160 epochs, not timed yet. In all about 1.1 h at the pace so far and the runs not "
        "timed yet.")  # fmt: skip
    short = dict(results, epochs_override=120)  # a study cut short: its runs end at epoch 120
    assert [r["epochs_left"] for r in study.remaining(short, plan=(("13pct", 2),))] == [20]
    assert study.remaining_line(study.remaining(dict(runs={"13pct:0": first}), plan=(("13pct", 1),))) == (
        "Left in the plan: nothing, every planned run has finished.")
    untimed = study.remaining(dict(runs={"13pct:0": first}), plan=(("13pct", 1), ("13pct+lrn", 1)))
    assert study.remaining_line(untimed) == (  # not "about 0.0 h": nothing left has a pace yet
        "Left in the plan: 13pct+lrn seed 0: 160 epochs, not timed yet.")


def test_runs_table_gives_each_run_its_machines_epochs_and_wall_time_in_the_plans_order():
    amd = "AMD EPYC (AVX2), 2 threads"
    history = [dict(epoch=e, train_error=0.1, test_error=0.2, seconds=20.0 + e) for e in range(1, 4)]
    history += [dict(epoch=e, train_error=0.1, test_error=0.2, seconds=50.0, machine=amd) for e in range(4, 6)]
    first = _finished("13pct", 1, 0.15, history) | dict(epochs=5, memory_format="channels_last", wall_s=7200.0)
    first["final_test_error"] = dict(centre=0.183, multiview=0.148)
    begun = dict(variant="13pct+lrn", seed=0, epochs=160, finished=False, wall_s=900.0,
                 history=[dict(epoch=1, train_error=0.5, test_error=0.6, seconds=60.0, machine=amd)])  # fmt: skip
    table = study.runs_table(dict(runs={"13pct+lrn:0": begun, "13pct:1": first}), plan=study.PLAN)
    assert table.splitlines()[2:] == [
        "| `13pct` seed 1 | channels-last | 5 of 5 | 18.3% / 14.8% | 22 on unrecorded [3]; 50 on AMD EPYC (AVX2), "
        "2 threads [2] | 2.00 h |",
        "| `13pct+lrn` seed 0 | contiguous | 1 of 160 | running | 60 on AMD EPYC (AVX2), 2 threads [1] | 0.25 h |",
    ]  # 13pct before 13pct+lrn, as the plan runs them; no memory_format recorded means contiguous (NCHW)


def test_machine_name_gives_the_cpus_model_instructions_and_threads():
    threads = torch.get_num_threads()
    model, rest = machine_name("cpu").split(" (", 1)
    assert model == cpu_model() and model
    assert rest == f"{torch.backends.cpu.get_cpu_capability()}), {threads} thread{'s' * (threads > 1)}"


def test_samples_of_a_class_sorted_folder_cover_every_class():
    labels = torch.arange(1000) // 100  # an image folder: class by class
    images = torch.zeros(1000, 3, 32, 32, dtype=torch.uint8)
    data = study.Data.from_tensors(images, labels, images, labels, train_count=200, test_count=100)
    assert len(data.train) == 200 and len(data.test) == 100 and data.held_out == 40
    assert len(set(data.train_labels.tolist())) == 10 and len(set(data.test_labels.tolist())) == 10


def test_curve_table_shows_each_seed_0_run_at_the_schedules_turns():
    def epoch(e):
        record = dict(epoch=e, train_error=0.5 - e / 1000, train_loss=1.0, test_error=0.3, seconds=1.0)
        return record | (dict(val_error=0.25) if e <= 100 else {})

    runs = {"13pct:0": _finished("13pct", 0, 0.2, [epoch(e) for e in range(1, 161)]),
            "13pct+lrn:0": _finished("13pct+lrn", 0, 0.2, [epoch(e) for e in range(1, 121)]),
            "13pct:1": _finished("13pct", 1, 0.2), "11pct:0": _finished("11pct", 0, 0.2)}  # fmt: skip
    lines = study.curve_table(dict(runs=runs)).splitlines()
    assert lines[0].count("train error / loss / validation / test") == 2  # seed 0, 13pct schedule only
    assert lines[4] == "| 100 | batches 1-4 | epsW | 40.0% / 1.000 / 25.0% / 30.0% | 40.0% / 1.000 / 25.0% / 30.0% |"
    assert lines[6] == "| 150 | batches 1-5 | epsW / 10 | 35.0% / 1.000 / - / 30.0% | - |"  # lrn stopped at 120


def test_curve_table_of_the_11pct_schedule_shows_its_own_turns_and_refuses_runs_on_another():
    history = [dict(epoch=e, train_error=0.6 - e / 1000, train_loss=1.0, test_error=0.3, seconds=1.0)
               | (dict(val_error=0.25) if e <= 350 else {}) for e in range(1, 401)]  # fmt: skip
    runs = {"13pct:0": _finished("13pct", 0, 0.2), "11pct:0": dict(_finished("11pct", 0, 0.2, history),
                                                                   finished=False)}  # fmt: skip
    lines = study.curve_table(dict(runs=runs), schedule="11pct").splitlines()
    assert lines[0] == "| epoch | data | rate | `11pct` train error / loss / validation / test |"
    body = {int(line.split(" | ")[0][2:]): line for line in lines[2:]}
    assert list(body) == list(study.TURNS["11pct"])
    assert body[350] == "| 350 | batches 1-4 | epsW | 25.0% / 1.000 / 25.0% / 30.0% |"  # still validating
    assert body[400] == "| 400 | batches 1-5 | epsW | 20.0% / 1.000 / - / 30.0% |"
    assert body[510] == "| 510 | batches 1-5 | epsW / 10 | - |"  # not reached yet
    assert len(study.curve_table(dict(runs=runs), epochs=(160,)).splitlines()) == 3  # 13pct's default: no 11pct
    with pytest.raises(ValueError, match=r"\['11pct:0'\] do not train on the 13pct schedule"):
        study.curve_table(dict(runs=runs), runs=("13pct:0", "11pct:0"))
    with pytest.raises(ValueError, match="schedule must be one of"):
        study.curve_table(dict(runs=runs), schedule="12pct")


def test_the_gap_uses_the_training_error_measured_like_the_test_error_where_a_run_recorded_it():
    early = dict(epoch=1, train_error=0.60, train_eval_error=0.45, test_error=0.50, seconds=1.0)
    assert study.gap(early) == pytest.approx(0.05)  # not 0.50 - 0.60: the epoch's running error lags the weights
    assert study.gap({k: v for k, v in early.items() if k != "train_eval_error"}) == pytest.approx(-0.10)
    runs = {"13pct:0": _finished("13pct", 0, 0.2, [early])}
    assert study.summary(dict(runs=runs))[0]["gap"]["median"] == pytest.approx(0.05)
    fig = study.plot(dict(runs=runs))
    assert fig.axes[1].get_lines()[0].get_ydata()[0] == pytest.approx(0.05)
    assert "2,000 training images" in fig.axes[1].get_title() and "dotted" not in fig.axes[0].get_title()
