"""The notebook controls, driven headlessly: buttons and sliders act on the trainer and redraw the plots."""

import time

import pytest
import torch

from alexnet.widgets import TrainingDashboard, checkpoint_summary, lrn_explorer

from .test_train import make_trainer, synthetic_sets


@pytest.fixture
def dashboard(tmp_path):
    trainer = make_trainer(synthetic_sets())
    return TrainingDashboard(trainer, steps=10_000, refresh_every=2, checkpoint=tmp_path / "nb.pt")


def _wait_for(condition, timeout=60.0):
    end = time.time() + timeout
    while not condition():
        if time.time() > end:
            raise TimeoutError("condition not met")
        time.sleep(0.02)


def test_start_pause_resume_stop_buttons_drive_a_background_run(dashboard):
    dashboard.start_button.click()
    assert dashboard.running and dashboard.start_button.disabled and not dashboard.stop_button.disabled
    _wait_for(lambda: dashboard.trainer.global_step >= 3)
    dashboard.pause_button.click()
    assert dashboard.trainer.paused and dashboard.pause_button.description == "Resume"
    time.sleep(0.3)
    held = dashboard.trainer.global_step
    time.sleep(0.4)
    assert dashboard.trainer.global_step == held and "paused" in dashboard.status.value
    dashboard.pause_button.click()
    _wait_for(lambda: dashboard.trainer.global_step >= held + 2)
    dashboard.stop_button.click()
    dashboard.wait(30)
    assert not dashboard.running and dashboard.error is None
    assert "stopped" in dashboard.status.value and dashboard.progress.value == dashboard.trainer.global_step
    assert not dashboard.start_button.disabled and dashboard.stop_button.disabled
    assert len(dashboard.curves.outputs) == 1 and "image/png" in dashboard.curves.outputs[0]["data"]
    assert "image/png" in dashboard.filters.outputs[0]["data"]


def test_lr_slider_changes_the_learning_rate_of_the_next_step(dashboard):
    dashboard.lr.value = 1e-3
    assert dashboard.trainer.lr == pytest.approx(1e-3)
    dashboard.steps.value = 2
    dashboard.start()
    dashboard.wait(60)
    assert dashboard.trainer.history[-1]["lr"] == pytest.approx(1e-3)


def test_save_and_load_buttons_round_trip_a_checkpoint(dashboard, tmp_path):
    dashboard.steps.value = 3
    dashboard.start()
    dashboard.wait(60)
    dashboard.save_button.click()
    assert (tmp_path / "nb.pt").is_file() and "saved" in dashboard.status.value
    saved = {k: v.clone() for k, v in dashboard.trainer.net.state_dict().items()}
    dashboard.steps.value = 2
    dashboard.start()
    dashboard.wait(60)
    dashboard.load_button.click()
    assert dashboard.trainer.global_step == 3 and "loaded" in dashboard.status.value
    assert all(torch.equal(saved[k], v) for k, v in dashboard.trainer.net.state_dict().items())
    assert checkpoint_summary(tmp_path / "nb.pt") == "cifar-alexnet at epoch 0, step 3"


def test_load_reports_a_missing_checkpoint_in_the_panel(dashboard):
    dashboard.load()
    assert "cannot load" in dashboard.status.value


def test_an_error_in_the_background_run_is_shown_not_lost(dashboard):
    dashboard.trainer.set_lr(1e6)
    dashboard.trainer.optimizer.param_groups[0]["momentum"] = 0.0
    dashboard.steps.value = 50
    dashboard.start()
    dashboard.wait(60)
    assert isinstance(dashboard.error, FloatingPointError) and "error" in dashboard.status.value


def test_lrn_explorer_redraws_when_a_slider_moves():
    box = lrn_explorer(torch.rand(1, 8, 12, 12) * 100, channels=(0, 1))
    out = box.children[-1]
    first = out.outputs[0]["data"]["image/png"]
    box.children[1].children[0].value = 1e-2  # alpha
    assert out.outputs[0]["data"]["image/png"] != first


def test_checkpoint_loader_hands_over_the_model_or_reports_why_not(tmp_path):
    from alexnet.widgets import CheckpointLoader

    trainer = make_trainer(synthetic_sets())
    trainer.save_checkpoint(tmp_path / "c.pt")
    received = []
    loader = CheckpointLoader(tmp_path / "c.pt", on_load=received.append)
    loader.button.click()
    assert len(received) == 1 and "loaded cifar-alexnet" in loader.status.value
    assert "run the cells below again" in loader.status.value  # the figures below do not redraw themselves
    loader.path.value = str(tmp_path / "missing.pt")
    loader.button.click()
    assert len(received) == 1 and "cannot load" in loader.status.value


def test_activation_browser_switches_images_layers_and_takes_uploads():
    import io

    from PIL import Image

    from alexnet.widgets import ActivationBrowser

    trainer = make_trainer(synthetic_sets())
    images = {"a": trainer.val_set.images[0], "b": trainer.val_set.images[1]}
    browser = ActivationBrowser(trainer.net, trainer.val_set.transform, images)
    first = browser.out.outputs[0]["data"]["image/png"]
    browser.layer.value = "conv3"
    assert browser.maps["conv3"].shape[0] == 192 and browser.out.outputs[0]["data"]["image/png"] != first
    png = io.BytesIO()
    Image.new("RGB", (50, 40), (200, 10, 10)).save(png, format="PNG")
    browser.add_image_bytes("red.png", png.getvalue())
    assert browser.picker.value == "red.png" and "red.png" in browser.picker.options
    browser.add_image_bytes("junk.png", b"not an image")
    assert "cannot read junk.png" in browser.out.outputs[0]["text"]


def test_activation_browser_from_a_dataset_names_images_by_class(tmp_path):
    from alexnet.widgets import ActivationBrowser

    from .conftest import IMAGENET_ZIP

    trainer = make_trainer(synthetic_sets())
    browser = ActivationBrowser.from_dataset(trainer.net, trainer.val_set, count=3)
    assert list(browser.images) == ["image 0 (r)", "image 1 (g)", "image 2 (b)", "scikit-image: astronaut"]
    assert torch.equal(browser.images["image 1 (g)"], trainer.val_set.images[1])
    assert browser.preprocess is trainer.val_set.transform
    if IMAGENET_ZIP.is_file():
        browser = ActivationBrowser.from_dataset(trainer.net, trainer.val_set, count=1, imagenet_samples=IMAGENET_ZIP)
        assert sum(name.startswith("ImageNet: ") for name in browser.images) == 3


def test_save_over_a_saved_run_asks_for_a_second_press(dashboard, tmp_path):
    (tmp_path / "nb.pt").write_bytes(b"an earlier run")
    dashboard.save_button.click()
    assert (tmp_path / "nb.pt").read_bytes() == b"an earlier run" and "press Save again" in dashboard.status.value
    dashboard.save_button.click()
    assert checkpoint_summary(tmp_path / "nb.pt") == "cifar-alexnet at epoch 0, step 0"


def test_save_checkpoint_refuses_to_replace_a_file_unless_asked(tmp_path):
    trainer = make_trainer(synthetic_sets())
    path = tmp_path / "mine.pt"
    path.write_bytes(b"kept")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        trainer.save_checkpoint(path, overwrite=False)
    assert path.read_bytes() == b"kept"
    trainer.save_checkpoint(path, overwrite=True)
    assert checkpoint_summary(path) == "cifar-alexnet at epoch 0, step 0"


def test_status_is_plain_text_and_follows_the_lr_slider_while_idle(dashboard):
    assert "<" not in dashboard.status.value and "press Start" in dashboard.status.value
    dashboard.lr.value = 1e-3
    assert "lr 1.0e-03" in dashboard.status.value


def test_lrn_explorer_keeps_before_and_after_on_one_scale_as_beta_moves():
    box = lrn_explorer(torch.rand(1, 8, 12, 12) * 100, channels=(0, 1))
    out = box.children[-1]
    first = out.outputs[0]["data"]["image/png"]
    box.children[1].children[1].value = 1.25  # beta
    assert out.outputs[0]["data"]["image/png"] != first


def test_activation_browser_offers_images_of_different_classes():
    from alexnet.widgets import ActivationBrowser

    trainer = make_trainer(synthetic_sets())
    browser = ActivationBrowser.from_dataset(trainer.net, trainer.val_set, count=3)
    labels = [name.split("(")[1] for name in list(browser.images)[:3]]
    assert len(set(labels)) == 3


def test_the_lr_slider_is_logarithmic_with_fine_steps_and_never_clamps_a_loaded_rate(tmp_path):
    from alexnet.widgets import TrainingDashboard

    trainer = make_trainer(synthetic_sets())
    dashboard = TrainingDashboard(trainer, steps=1, checkpoint=tmp_path / "c.pt")
    slider = dashboard.lr
    assert type(slider).__name__ == "FloatLogSlider" and slider.base == 10 and slider.step <= 0.01
    assert slider.min <= -5 and slider.max >= -1 and slider.value == pytest.approx(trainer.lr)
    trainer.set_lr(3e-7)  # below the track: a plateau-divided rate, as a checkpoint may hold
    trainer.save_checkpoint(tmp_path / "c.pt")
    trainer.set_lr(0.01)
    dashboard.load()
    assert trainer.lr == pytest.approx(3e-7) and slider.value == pytest.approx(3e-7) and slider.min <= -7


def test_the_dashboard_validates_on_a_fixed_subset_every_few_steps_and_shows_it(tmp_path):
    from alexnet.widgets import TrainingDashboard

    trainer = make_trainer(synthetic_sets())
    dashboard = TrainingDashboard(trainer, steps=4, refresh_every=1, checkpoint=tmp_path / "c.pt", validate_every=2,
                                  validation_images=5)  # fmt: skip
    assert "validation" not in dashboard.status.value  # nothing measured yet
    states = []
    dashboard.status.observe(lambda change: states.append(change["new"]), names="value")
    dashboard.start()
    dashboard.wait(120)
    assert dashboard.error is None
    points = dashboard.validation["points"]
    assert [step for step, _ in points] == [2, 4] and dashboard.validation["images"] == 5
    expected = trainer.evaluate(dashboard.val_subset)["top1_err"]
    assert points[-1][1] == pytest.approx(expected)  # the subset is fixed: the same images each time
    assert any(state.startswith("validating on 5 images") for state in states)
    assert f"validation top-1 error {points[-1][1]:.2f} (step 4)" in dashboard.status.value
    assert len(dashboard.curves.outputs) == 1  # the plot with its labelled validation series was drawn


def test_the_training_plot_labels_both_validation_series():
    from alexnet import viz

    history = [dict(step=i, loss=2.0, top1_err=0.9, top5_err=0.5) for i in range(1, 11)]
    epochs = [dict(step=10, val_top1_err=0.6, val_top5_err=0.2)]
    fig = viz.plot_training(history, epochs, validation=dict(images=2000, points=[(5, 0.7), (10, 0.65)]))
    labels = [line.get_label() for line in fig.axes[1].get_lines()]
    assert "validation top-1 (2,000 images)" in labels and "validation top-1 (all images, epoch end)" in labels


def test_a_dashboard_built_again_on_a_trainer_replaces_the_old_ones_validating_hook(tmp_path):
    from alexnet.widgets import TrainingDashboard
    from alexnet.widgets.dashboard import _SaysValidating

    trainer = make_trainer(synthetic_sets())
    TrainingDashboard(trainer, steps=1, checkpoint=tmp_path / "c.pt")
    second = TrainingDashboard(trainer, steps=1, checkpoint=tmp_path / "c.pt")
    hooks = [h for h in trainer.engine.hooks if isinstance(h, _SaysValidating)]
    assert len(hooks) == 1 and hooks[0].dashboard is second


def test_the_status_names_recipe_and_precision_and_redraws_go_by_time(tmp_path):
    trainer = make_trainer(synthetic_sets())
    dashboard = TrainingDashboard(trainer, steps=6, refresh_seconds=3600, checkpoint=tmp_path / "c.pt")
    assert "paper recipe, fp32" in dashboard.status.value
    drawn = []
    dashboard.refresh = lambda: drawn.append(trainer.global_step)
    dashboard.start()
    dashboard.wait(120)
    assert drawn == [6]  # an hour between redraws: only the one at the end of the run


def test_the_shipped_filters_stand_beside_the_live_ones_until_the_live_ones_have_structure(tmp_path):
    from alexnet.runs import build_trainer

    trainer = build_trainer("demo", "cifar-alexnet", batch_size=4, backend="torch")
    assert trainer.spec.name == "cifar-alexnet"
    trainer.classes = [str(i) for i in range(10)]  # the shipped weights' 10 classes
    dashboard = TrainingDashboard(trainer, steps=1, checkpoint=tmp_path / "c.pt")
    assert dashboard.reference is not None and dashboard._reference_smoothness > 0.2
    titles = []
    import alexnet.viz as viz

    original = viz.show_conv1_progress

    def spy(model, reference=None, **kwargs):
        titles.append((reference is not None, kwargs.get("reference_label")))
        return original(model, reference, **kwargs)

    viz.show_conv1_progress = spy
    try:
        dashboard.refresh()  # random weights: no structure yet
        with torch.no_grad():  # give every live kernel the shipped ones' shapes
            for column, shipped in zip(trainer.net.columns, dashboard.reference.columns):
                column.conv1.weight.copy_(shipped.conv1.weight)
        dashboard.refresh()
    finally:
        viz.show_conv1_progress = original
    assert titles == [(True, "shipped weights (where 20 epochs get you)"), (False, None)]
    assert len(dashboard.filters.outputs) == 1


def test_the_setup_starts_from_the_dashboard_defaults_and_the_papers_recipe_is_one_click_away(monkeypatch):
    from alexnet.choices import DASHBOARD_DEFAULTS, resolve_precision
    from alexnet.widgets import TrainingSetup

    setup = TrainingSetup({"demo": "demo"}, steps=1, backend="torch")
    assert (setup.recipe.value, setup.precision.value, setup.batch_size.value) == (
        DASHBOARD_DEFAULTS["recipe"], DASHBOARD_DEFAULTS["precision"], DASHBOARD_DEFAULTS["batch_size"])  # fmt: skip
    assert f"auto ({resolve_precision('auto')} on this CPU)" in setup.precision.options
    trainer = setup.build().trainer
    assert trainer.config.recipe == DASHBOARD_DEFAULTS["recipe"] and trainer.precision == resolve_precision("auto")
    setup.recipe.value, setup.precision.value = "paper", "fp32"
    trainer = setup.build().trainer
    assert (trainer.config.recipe, trainer.config.warmup_steps, trainer.precision) == ("paper", 0, "fp32")
    assert "paper recipe, fp32" in setup.dashboard.status.value


def test_loading_a_run_saved_during_its_warm_up_keeps_the_rate_it_rises_to(tmp_path):
    trainer = make_trainer(synthetic_sets(), lr=0.05, warmup_steps=10)
    dashboard = TrainingDashboard(trainer, steps=1, checkpoint=tmp_path / "c.pt")
    for _ in range(3):
        trainer.step()
    assert trainer.lr == pytest.approx(0.05 * 3 / 10)
    trainer.save_checkpoint(tmp_path / "c.pt")
    dashboard.load()
    assert trainer.schedule.peak == pytest.approx(0.05) and dashboard.lr.value == pytest.approx(trainer.lr)
    dashboard.lr.value = 0.02  # a student's move during the warm-up sets the rate it rises to
    assert trainer.schedule.peak == pytest.approx(0.02)


def test_loading_a_run_of_another_recipe_is_refused_in_the_panel_not_half_applied(tmp_path):
    paper = make_trainer(synthetic_sets())
    paper.step()
    paper.save_checkpoint(tmp_path / "c.pt")
    fast = make_trainer(synthetic_sets(), recipe="fast", warmup_steps=10)
    dashboard = TrainingDashboard(fast, steps=1, checkpoint=tmp_path / "c.pt")
    dashboard.load()
    assert "cannot load" in dashboard.status.value and "recipe='paper'" in dashboard.status.value
    assert fast.global_step == 0 and fast.schedule.peak == pytest.approx(0.01)
