"""models.py: architectures, parameter counts, FLOPs and config errors."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from distillery.errors import ConfigError
from distillery.models import MLP, LeNet, SmallResNet, build_model, count_parameters, flops_per_sample
from distillery.spec import EnsembleModel, LeNetModel, MlpModel, ModelSpec, parse
from helpers import model_options, model_spec


def test_mlp_bottleneck_parameter_count_is_dk_plus_kh_plus_the_rest():
    D, k, H, C = 784, 30, 400, 10
    model = build_model(model_spec("mlp", hidden=[H], bottleneck=k), [28, 28], C)
    expected = D * k + (k * H + H) + (H * C + C)  # U without bias, V with bias, then the output layer
    assert count_parameters(model) == expected == 39_930
    # and the factorisation really saves weights against the unfactored net
    unfactored = build_model(model_spec("mlp", hidden=[H]), [28, 28], C)
    assert count_parameters(unfactored) == D * H + H + H * C + C
    assert count_parameters(model) < count_parameters(unfactored)


def test_mlp_bottleneck_with_two_hidden_layers():
    D, k, H1, H2, C = 784, 30, 400, 200, 10
    model = build_model(model_spec("mlp", hidden=[H1, H2], bottleneck=k), [784], C)
    assert count_parameters(model) == D * k + (k * H1 + H1) + (H1 * H2 + H2) + (H2 * C + C)


def test_mlp_bottleneck_has_no_nonlinearity_between_bottleneck_and_wide_layer():
    model = build_model(model_spec("mlp", hidden=[40, 20], bottleneck=5, activation="tanh"), [12], 3)
    layers = list(model.layers)
    kinds = [type(layer) for layer in layers]
    assert kinds == [nn.Flatten, nn.Linear, nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    u, v = layers[1], layers[2]
    assert (u.in_features, u.out_features, u.bias) == (12, 5, None)
    assert (v.in_features, v.out_features) == (5, 40)
    # the map input -> wide layer's pre-activation is affine: U then V, with rank at most k
    linear_part = nn.Sequential(*layers[:3]).eval()
    a, b = torch.randn(4, 12), torch.randn(4, 12)
    bias = linear_part(torch.zeros(1, 12))
    with torch.no_grad():
        combined = linear_part(2.0 * a - 3.0 * b) - bias
        expected = 2.0 * (linear_part(a) - bias) - 3.0 * (linear_part(b) - bias)
    torch.testing.assert_close(combined, expected, rtol=1e-4, atol=1e-5)
    assert torch.linalg.matrix_rank(v.weight @ u.weight) <= 5


def test_mlp_bottleneck_needs_a_hidden_layer():
    with pytest.raises(ConfigError) as caught:
        build_model(model_spec("mlp", hidden=[], bottleneck=4), [8], 2, where="students[2].model")
    assert caught.value.field == "students[2].model.bottleneck"


@pytest.mark.parametrize("hidden,bottleneck", [([], None), ([64, 32], None), ([64, 32], 8)])
def test_mlp_flops_per_sample_is_twice_the_sum_of_in_times_out(hidden, bottleneck):
    D, C = 784, 10
    model = build_model(
        model_spec("mlp", hidden=hidden, **({"bottleneck": bottleneck} if bottleneck else {})), [28, 28], C
    )
    widths = [D] + ([bottleneck] if bottleneck else []) + hidden + [C]
    expected = 2 * sum(i * o for i, o in itertools.pairwise(widths))
    assert flops_per_sample(model, [28, 28]) == expected


def test_lenet_flops_by_hand():
    model = build_model(model_spec("lenet"), [1, 28, 28], 10)  # zod's defaults: channels [6, 16], hidden [120, 84]
    assert (model_spec("lenet").channels, model_spec("lenet").hidden) == ((6, 16), (120, 84))
    conv1 = 2 * (6 * 28 * 28) * (5 * 5 * 1)
    conv2 = 2 * (16 * 14 * 14) * (5 * 5 * 6)
    dense = 2 * (16 * 7 * 7 * 120 + 120 * 84 + 84 * 10)
    assert flops_per_sample(model, [1, 28, 28]) == conv1 + conv2 + dense


def test_flops_leaves_the_training_mode_as_it_was():
    model = build_model(model_spec("mlp", hidden=[8], dropout=0.5), [4], 2)
    model.train()
    flops_per_sample(model, [4])
    assert model.training
    model.eval()
    flops_per_sample(model, [4])
    assert not model.training


@pytest.mark.parametrize(
    "config,cls",
    [
        ({"type": "lenet", "channels": [4, 8], "hidden": [16]}, LeNet),
        ({"type": "resnet", "channels": [4, 8]}, SmallResNet),
        ({"type": "mlp", "hidden": [16]}, MLP),
    ],
)
@pytest.mark.parametrize("shape", [[28, 28], [1, 28, 28], [3, 16, 16]])
def test_image_models_build_for_each_input_shape(config, cls, shape):
    torch.manual_seed(0)
    model = build_model(model_spec(**config, kind=config["type"]), shape, 7)
    assert isinstance(model, cls)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(5, *shape))
    assert out.shape == (5, 7)
    assert torch.isfinite(out).all()
    assert flops_per_sample(model, shape) > 0


def test_image_models_reject_vector_inputs():
    for kind in ("lenet", "resnet"):
        with pytest.raises(ConfigError) as caught:
            build_model(model_spec(kind), [784], 10, where="teacher.model")
        assert caught.value.field == "teacher.model.type"


def test_lenet_with_too_many_pooling_stages():
    with pytest.raises(ConfigError) as caught:
        build_model(model_spec("lenet", channels=[2, 2, 2, 2, 2]), [1, 8, 8], 10)
    assert caught.value.field == "model.channels"


@pytest.mark.parametrize("kind", ["mlp", "lenet"])
def test_unknown_activation_raises_config_error_with_field(kind):
    # refused where the request is parsed …
    with pytest.raises(ConfigError) as caught:
        parse(ModelSpec, model_options(kind, hidden=[8], activation="swish"), "students[0].model")
    assert caught.value.field == "students[0].model.activation"
    assert "swish" in caught.value.message
    # … and by the constructors too, which take every argument explicitly
    with pytest.raises(ConfigError) as caught:
        if kind == "lenet":
            LeNet(
                [1, 28, 28], 3, channels=[6, 16], hidden=[8], activation="swish", dropout=0.0, where="students[0].model"
            )
        else:
            MLP(
                [10],
                3,
                hidden=[8],
                activation="swish",
                dropout=0.0,
                input_dropout=0.0,
                bottleneck=None,
                where="students[0].model",
            )
    assert caught.value.field == "students[0].model.activation"
    assert "swish" in caught.value.message


def test_unknown_model_type_raises_config_error_with_field():
    with pytest.raises(ConfigError) as caught:
        parse(ModelSpec, {"type": "vision-transformer"}, "model")
    assert caught.value.field == "model.type"
    assert "transformer" in str(caught.value)
    # a parsed config the builder does not build (an ensemble is only ever rebuilt from a checkpoint, member by member)
    ensemble = EnsembleModel(type="ensemble", combine="mean-logits", members=(model_spec("mlp"),))
    with pytest.raises(ConfigError) as caught:
        build_model(ensemble, [10], 3, where="teacher.model")
    assert caught.value.field == "teacher.model.type"


def test_model_specs_are_the_typed_zod_configs():
    mlp = model_spec("mlp", hidden=[16, 8], bottleneck=4)
    assert isinstance(mlp, MlpModel) and mlp.hidden == (16, 8) and mlp.bottleneck == 4
    assert (mlp.activation, mlp.dropout, mlp.input_dropout) == ("relu", 0.0, 0.0)  # zod's defaults
    assert isinstance(model_spec("lenet"), LeNetModel)
    with pytest.raises(ConfigError) as caught:
        parse(ModelSpec, {"type": "mlp", "hidden": [16]}, "teacher.model")  # not completed by zod: refused, not guessed
    assert caught.value.field == "teacher.model.activation"


def test_custom_module_errors_name_the_module_field():
    with pytest.raises(ConfigError) as caught:
        build_model(model_spec("custom", module="no_such_package.mod:Net"), [4], 2, where="teacher.model")
    assert caught.value.field == "teacher.model.module"
    with pytest.raises(ConfigError) as caught:
        build_model(model_spec("custom", module="collections:OrderedDict"), [4], 2)
    assert caught.value.field == "model.module"


def test_custom_module_is_built_with_its_kwargs():
    model = build_model(
        model_spec("custom", module="torch.nn:Linear", kwargs={"in_features": 4, "out_features": 2}), [4], 2
    )
    assert isinstance(model, nn.Linear) and model.weight.shape == (2, 4)


# ---------------------------------------------------------------- CNN families for image data


@pytest.mark.parametrize(
    ("config", "params"),
    [
        # the distillation literature's sizes on CIFAR-100 (CRD, Tian et al. 2020): resnet8x4 1.23M and resnet32x4
        # 7.43M there, with a stem half as wide; resnet20 0.28M, resnet56 0.86M, WRN-40-2 2.26M, WRN-16-2 0.70M,
        # MobileNetV2 (x0.5) 0.81M
        ({"type": "resnet", "depth": 8, "widen": 4}, 1_250_724),
        ({"type": "resnet", "depth": 32, "widen": 4}, 7_451_044),
        ({"type": "resnet", "depth": 20}, 278_324),
        ({"type": "resnet", "depth": 56}, 861_620),
        ({"type": "wrn", "depth": 40, "widen": 2}, 2_255_156),
        ({"type": "wrn", "depth": 16, "widen": 2}, 703_284),
        ({"type": "mobilenetv2", "width": 0.5}, 815_780),
    ],
)
def test_cnn_families_have_the_literatures_sizes(config, params):
    kind = config.pop("type")
    assert count_parameters(build_model(model_spec(kind, **config), [3, 32, 32], 100)) == params


def test_a_resnet_without_depth_is_still_the_small_one_block_per_stage_resnet():
    model = build_model(model_spec("resnet"), [1, 28, 28], 10)
    assert isinstance(model, SmallResNet)
    assert count_parameters(model) == count_parameters(SmallResNet([1, 28, 28], 10, [16, 32, 64]))


@pytest.mark.parametrize(
    "config",
    [
        {"type": "resnet", "depth": 8, "widen": 2},
        {"type": "wrn", "depth": 10, "widen": 1},
        {"type": "mobilenetv2", "width": 0.25, "dropout": 0.1},
    ],
)
@pytest.mark.parametrize("shape", [[3, 32, 32], [28, 28]])
def test_cnn_families_train_a_step_on_colour_and_grey_images(config, shape):
    config = dict(config)
    kind = config.pop("type")
    model = build_model(model_spec(kind, **config), shape, 7)
    x, y = torch.randn(4, *shape), torch.tensor([0, 1, 2, 6])
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert model(x).shape == (4, 7)
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    ("kind", "depth", "words"),
    [
        ("resnet", 10, "a CIFAR ResNet has depth 6n + 2"),
        ("wrn", 18, "a wide ResNet has depth 6n + 4"),
    ],
)
def test_a_depth_that_is_not_of_the_familys_form_is_refused(kind, depth, words):
    with pytest.raises(ConfigError) as caught:
        build_model(model_spec(kind, depth=depth), [3, 32, 32], 10)
    assert caught.value.field == "model.depth" and words in caught.value.message
