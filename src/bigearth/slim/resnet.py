"""Channel slimming of timm ResNets: every convolution keeps its first ``floor(s * c)`` output channels.

Channel counts map to slimmed counts by one rule, so tensors added on a residual path (same count) keep the
same channels; the first convolution keeps every input band, the classifier keeps every class. Only plain
ResNets (basic or bottleneck blocks, dense convolutions, batch norm) are supported: grouped convolutions
(ResNeXt), squeeze-excitation and other attention would need their own rules.
"""

from timm.layers import SelectAdaptivePool2d
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from bigearth.errors import ConfigError
from bigearth.slim.plan import Cutter, first
from bigearth.slim.spec import SlimSpec, kept

#: Module types a slimmable ResNet may contain.
PLAIN_MODULES = (ResNet, BasicBlock, Bottleneck, nn.Sequential, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d,
                 nn.AvgPool2d, nn.Identity, nn.Linear, nn.Flatten, SelectAdaptivePool2d,
                 nn.AdaptiveAvgPool2d)  # fmt: skip


def check_plain(net: ResNet) -> None:
    """Refuse ResNet variants whose channels cannot be cut by the one rule.

    Raises:
        ConfigError: naming the first unsupported module.
    """
    for name, module in net.named_modules():
        grouped = isinstance(module, nn.Conv2d) and module.groups != 1
        if grouped or not isinstance(module, PLAIN_MODULES):
            what = "a grouped convolution" if grouped else f"a {type(module).__name__}"
            raise ConfigError(f"cannot slim {name or 'the network'}: {what}; channel slimming supports plain "
                              "ResNets (basic or bottleneck blocks, dense convolutions, batch norm)")  # fmt: skip


def slim_resnet(cut: Cutter, net: ResNet, spec: SlimSpec) -> None:
    """Cut a timm ResNet in place to ``spec.width`` of its channels.

    Raises:
        ConfigError: for an unsupported variant, or a spec that asks for head dropping or an embedding width.
    """
    if spec.mode != "dims" or spec.embed_width != 1.0:
        raise ConfigError("a ResNet is slimmed by channel width alone: use mode 'dims' and embed_width 1")
    check_plain(net)
    convolutions = [module for module in net.modules() if isinstance(module, nn.Conv2d)]
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            inputs = None if module is convolutions[0] else first(kept(module.in_channels, spec.width))
            cut.conv(module, out=first(kept(module.out_channels, spec.width)), inp=inputs)
        elif isinstance(module, nn.BatchNorm2d):
            cut.norm(module, first(kept(module.num_features, spec.width)))
        elif isinstance(module, nn.Linear):
            cut.linear(module, cols=first(kept(module.in_features, spec.width)))
    net.num_features = kept(net.num_features, spec.width)
    if hasattr(net, "head_hidden_size"):
        net.head_hidden_size = net.num_features
