"""One place for every choice: the names, their defaults, resume rules, and the same run from the CLI and the
notebooks' build_trainer."""

import pytest
import torch

import kernels
from alexnet.__main__ import main
from alexnet.checkpoint import read_checkpoint
from alexnet.choices import BACKENDS, MEANS, ResumeConflict, TrainChoices, default_init
from alexnet.model import AlexNet, ModelSpec
from alexnet.runs import build_trainer


def test_the_backend_names_are_the_kernels_packages():
    assert BACKENDS == kernels.BACKENDS


@pytest.mark.parametrize("field, value", [("model", "vgg"), ("mean", "median"), ("backend", "cuda"),
                                          ("init", "xavier"), ("activation", "gelu")])  # fmt: skip
def test_a_choice_outside_its_names_is_a_clear_error(field, value):
    with pytest.raises(ValueError, match=f"{field} must be one of .* got '{value}'"):
        TrainChoices(**{field: value})


def test_resolving_fills_in_the_model_and_its_init_for_the_data(tiny_cifar):
    choices, why = TrainChoices().resolved(str(tiny_cifar))
    assert (choices.model, choices.init, why) == ("cifar-alexnet", "modern", "32x32 images")
    given, why = TrainChoices(model="alexnet").resolved(str(tiny_cifar))
    assert (given.init, why) == (default_init("alexnet"), None) == ("paper", None)
    assert TrainChoices().mean == "pixel" and "pixel" in MEANS  # the paper's mean image, for every caller


def _state(**kwargs):
    spec = dict(name="cifar-alexnet", kwargs=dict(backend="torch", init="modern"))
    return dict(model_spec=spec, train_config=dict(lr=0.01, batch_size=16, momentum=0.9, weight_decay=5e-4, seed=3),
                data=dict(mean="pixel", augment=True), **kwargs)  # fmt: skip


def test_a_resume_keeps_the_runs_choices_and_takes_only_lr_and_backend():
    choices = TrainChoices.for_resume(_state(), dict(lr=0.5, backend="auto"))
    assert (choices.batch_size, choices.seed, choices.lr, choices.backend) == (16, 3, 0.5, "auto")
    with pytest.raises(ResumeConflict) as err:
        TrainChoices.for_resume(_state(), dict(batch_size=8, augment=False, lr=0.5))
    assert err.value.conflicts == [("batch_size", 8, 16), ("augment", False, True)]


def test_a_checkpoint_that_names_the_backend_kernels_reads_as_backend(tmp_path):
    model = ModelSpec("cifar-alexnet", dict(backend="torch")).build(seed=0)
    old = dict(format="alexnet-lab/checkpoint", version=2, model=model.state_dict(),
               model_spec=dict(name="cifar-alexnet", kwargs=dict(kernels="torch", num_classes=10)))  # fmt: skip
    torch.save(old, tmp_path / "old.pt")
    state = read_checkpoint(tmp_path / "old.pt")
    assert state["model_spec"]["kwargs"] == dict(backend="torch", num_classes=10)
    with pytest.raises(TypeError):
        AlexNet(kernels="torch")  # the argument's only name is backend=


def test_the_cli_and_build_trainer_train_the_same_run_from_the_same_choices(tiny_cifar, tmp_path):
    cli = tmp_path / "cli"
    assert main(["train", "--data", str(tiny_cifar), "--epochs", "1", "--batch-size", "16", "--out", str(cli),
                 "--backend", "torch", "--quiet"]) == 0  # fmt: skip
    trainer = build_trainer(str(tiny_cifar), backend="torch", batch_size=16, log_dir=tmp_path / "notebook")
    trainer.run(epochs=1, progress=False)
    a, b = read_checkpoint(cli / "checkpoint.pt"), read_checkpoint(tmp_path / "notebook" / "checkpoint.pt")
    assert a["model_spec"] == b["model_spec"] and a["data"] == b["data"] and a["train_config"] == b["train_config"]
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name


def test_the_recipe_gives_the_lr_unless_one_is_given_and_precision_auto_follows_amx(monkeypatch):
    from alexnet.choices import RECIPES, resolve_precision

    assert TrainChoices(model="cifar-alexnet").resolved("demo")[0].lr == RECIPES["paper"].lr == 0.01
    assert TrainChoices(model="cifar-alexnet", recipe="fast").resolved("demo")[0].lr == RECIPES["fast"].lr
    assert TrainChoices(model="cifar-alexnet", recipe="fast", lr=0.002).resolved("demo")[0].lr == 0.002
    with pytest.raises(ValueError, match="recipe must be one of"):
        TrainChoices(recipe="quick")
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainChoices(precision="fp16")
    for amx, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx)
        assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("auto", "cuda") == "fp32" and resolve_precision("bf16", "cuda") == "bf16"


def test_the_recipe_and_precision_are_recorded_in_the_checkpoint_and_precision_may_change_on_resume(tmp_path):
    from alexnet.runs import build_trainer

    trainer = build_trainer("demo", "cifar-alexnet", batch_size=4, recipe="fast", precision="bf16", backend="torch")
    assert (trainer.config.recipe, trainer.config.warmup_steps, trainer.config.label_smoothing) == ("fast", 200, 0.1)
    assert trainer.precision == "bf16" and trainer.engine.autocast == torch.bfloat16
    trainer.step()
    assert trainer.lr == pytest.approx(trainer.config.lr / 200)  # the first step of the warm-up
    trainer.save_checkpoint(tmp_path / "c.pt")
    state = read_checkpoint(tmp_path / "c.pt")
    saved = TrainChoices.from_checkpoint(state)
    assert (saved["recipe"], saved["precision"]) == ("fast", "bf16")
    resumed = TrainChoices.for_resume(state, dict(precision="fp32"))
    assert (resumed.recipe, resumed.precision) == ("fast", "fp32")
    with pytest.raises(ResumeConflict):
        TrainChoices.for_resume(state, dict(recipe="paper"))
    again = build_trainer("demo", "cifar-alexnet", batch_size=4, recipe="fast", precision="fp32", backend="torch")
    again.load_checkpoint(tmp_path / "c.pt")
    assert again.global_step == 1 and again.schedule.peak == pytest.approx(trainer.config.lr)
