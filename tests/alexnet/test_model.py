"""The network: the paper's structure and size, its two forms, initialisation, and both kernel backends."""

import os

import pytest
import torch
import torch.nn.functional as F

from alexnet.model import (
    AlexNet,
    AlexNetConfig,
    FourLayerCNN,
    GroupedAlexNet,
    cifar_alexnet,
    columns_to_grouped,
    count_parameters,
    grouped_to_columns,
)


def test_parameter_count_is_the_papers():
    assert count_parameters(AlexNet()) == 60_965_224


def test_columns_are_modules_and_only_cross_column_layers_read_both():
    col = AlexNet(backend="torch").columns[0]
    assert (col.conv1.in_channels, col.conv1.out_channels, col.conv1.kernel_size, col.conv1.stride) == (
        3, 48, (11, 11), (4, 4),
    )  # fmt: skip
    assert col.conv2.in_channels == 48 and col.conv2.out_channels == 128  # own column
    assert col.conv3.in_channels == 256  # both columns' conv2
    assert col.conv4.in_channels == 192 and col.conv5.in_channels == 192  # own column
    assert col.fc6.in_features == 2 * 128 * 6 * 6 and col.fc6.out_features == 2048
    assert col.fc7.in_features == 4096 and col.fc8.in_features == 4096 and col.fc8.out_features == 500


def _conv1_shape(model, x):
    shapes = []
    handle = model.columns[0].conv1.register_forward_hook(lambda m, i, o: shapes.append(o.shape))
    with torch.no_grad():
        out = model(x)
    handle.remove()
    return shapes[0], out


def test_227_gives_55x55_and_224_is_padded_to_the_same():
    model = AlexNet(backend="torch").eval()
    x224 = torch.randn(1, 3, 224, 224)
    shape224, out224 = _conv1_shape(model, x224)
    shape227, out227 = _conv1_shape(model, F.pad(x224, (1, 2, 1, 2)))
    assert shape224 == shape227 == (1, 48, 55, 55)
    assert torch.equal(out224, out227) and out224.shape == (1, 1000)


@pytest.mark.parametrize("shape", [(1, 3, 200, 200), (1, 1, 227, 227), (3, 227, 227)])
def test_other_inputs_are_rejected_with_the_expected_shape(shape):
    with pytest.raises(ValueError, match="AlexNet: x must be"):
        AlexNet(backend="torch")(torch.randn(shape))


def test_paper_init_biases_one_in_conv2_conv4_conv5_fc6_fc7():
    torch.manual_seed(0)
    col = AlexNet(backend="torch").columns[1]
    for name in ("conv2", "conv4", "conv5", "fc6", "fc7"):
        assert torch.all(getattr(col, name).bias == 1.0), name
    for name in ("conv1", "conv3", "fc8"):
        assert torch.all(getattr(col, name).bias == 0.0), name
    assert abs(col.fc6.weight.std().item() - 0.01) < 2e-4 and abs(col.fc6.weight.mean().item()) < 1e-4


def test_modern_init_is_kaiming_with_zero_biases():
    torch.manual_seed(0)
    col = AlexNet(backend="torch", init="modern").columns[0]
    assert all(torch.all(getattr(col, n).bias == 0) for n in ("conv2", "fc6"))
    expected = (2.0 / (192 * 9)) ** 0.5  # fan-out of conv3
    assert abs(col.conv3.weight.std().item() - expected) / expected < 0.05
    assert abs(col.fc6.weight.std().item() - 0.01) < 2e-4


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="needs Triton's interpreter on the CPU")
@pytest.mark.parametrize("kind", ["cifar", "imagenet"])
def test_triton_and_torch_kernels_compute_the_same_network(kind):
    torch.manual_seed(0)
    make = (
        (lambda k: cifar_alexnet(backend=k, init="modern")) if kind == "cifar" else (lambda k: AlexNet(10, backend=k))
    )
    # float64: in fp32 the backends' different summation orders (which differ between CPUs too) can flip a near-tie
    # in max-pooling after ReLU and so reroute a gradient; in float64 they agree to rounding.
    triton_model, torch_model = make("triton").double(), make("torch").double()
    torch_model.load_state_dict(triton_model.state_dict())
    triton_model.eval(), torch_model.eval()
    side = 32 if kind == "cifar" else 227
    x = torch.randn(2 if kind == "cifar" else 1, 3, side, side, dtype=torch.float64) * (1 if kind == "cifar" else 60)
    outs = []
    for model in (triton_model, torch_model):
        out = model(x)
        out.square().sum().backward()
        outs.append((out.detach(), model.columns[0].conv1.weight.grad.clone()))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize(
    "config", [AlexNetConfig(num_classes=11, backend="torch"), AlexNetConfig.cifar(7, backend="torch")]
)
def test_grouped_convolution_form_gives_same_outputs_and_gradients(config):
    # float64: in fp32 the two forms' different summation orders flip near-ties in max-pooling after ReLU,
    # which reroutes gradients; in fp64 the forms agree to rounding.
    torch.manual_seed(0)
    model = AlexNet(config=config).double().eval()
    grouped = model.to_grouped().double().eval()
    assert isinstance(grouped, GroupedAlexNet) and count_parameters(grouped) == count_parameters(model)
    x = torch.randn(2, 3, config.input_size, config.input_size, dtype=torch.float64) * 50
    out, out_g = model(x), grouped(x)
    torch.testing.assert_close(out, out_g)
    out.square().sum().backward()
    out_g.square().sum().backward()
    grads = columns_to_grouped({n: p.grad for n, p in model.named_parameters()})
    for name, p in grouped.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], msg=name)


def test_grouped_mapping_round_trips_exactly():
    model = AlexNet(num_classes=9, backend="torch")
    back = grouped_to_columns(columns_to_grouped(model.state_dict()))
    assert back.keys() == model.state_dict().keys()
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())
    assert torch.equal(AlexNet.from_grouped(model.to_grouped()).columns[1].fc8.weight, model.columns[1].fc8.weight)


def test_columns_on_two_devices_give_the_same_outputs():
    torch.manual_seed(0)
    model = cifar_alexnet(backend="torch", init="modern").eval()
    placed = cifar_alexnet(backend="torch", init="modern", devices=("cpu", "cpu")).eval()
    placed.load_state_dict(model.state_dict())
    x = torch.randn(3, 3, 32, 32)
    assert torch.equal(model(x), placed(x))
    with pytest.raises(ValueError, match="devices must name two devices"):
        model.place(("cpu",))


def test_cifar_alexnet_shapes():
    model = cifar_alexnet(backend="torch")
    assert model.config.feature_size() == 3
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("activation, fn", [("relu", F.relu), ("tanh", torch.tanh)])
def test_four_layer_cnn_pools_before_the_monotonic_activation_without_changing_the_function(activation, fn):
    torch.manual_seed(0)
    model = FourLayerCNN(activation)
    x = torch.randn(4, 3, 32, 32)
    h = x
    for conv in (model.conv1, model.conv2, model.conv3):
        h = F.max_pool2d(fn(conv(h)), 3, 2)  # the textbook order
    torch.testing.assert_close(model(x), model.fc(h.flatten(1)), rtol=1e-5, atol=1e-6)
    assert count_parameters(model) == 2432 + 25632 + 51264 + 5770


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: FourLayerCNN("sigmoid"), "activation must be one of"),
        (lambda: FourLayerCNN(init="xavier"), "init must be one of"),
        (lambda: AlexNet(backend="cuda"), "backend must be one of"),
        (lambda: AlexNet(num_classes=0), "num_classes must be >= 1"),
        (lambda: AlexNet(config=AlexNetConfig(input_size=40)), "too small"),
    ],
)
def test_bad_arguments_name_themselves(make, message):
    with pytest.raises(ValueError, match=message):
        make()
