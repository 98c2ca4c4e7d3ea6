"""Slimmed model folders: an ordinary model folder whose ``config.json`` records the cut.

``"slim": {"width": ..., "embed_width": ..., "mode": ..., "attention_scale": ...}`` (a record without
``attention_scale`` reads as ``slimmed``, what folders written before the option used) and weights that are the
cut tensors: every loader rebuilds the recorded architecture, cuts it by :func:`restore_slimming`, then loads the
weights, so every command that takes a model folder takes a slimmed one.
"""

from typing import Any

from torch import nn

from bigearth.folders.format import SLIM_KEY


def restore_slimming(network: nn.Module, config: dict[str, Any]) -> None:
    """Cut a freshly built network as its model folder's ``config.json`` records (nothing when it records none).

    The model loaders call this between building the architecture and loading the weights.

    Raises:
        ConfigError: for an invalid ``slim`` entry.
    """
    if config.get(SLIM_KEY):
        from bigearth.slim.network import cut_network  # slimming knows every network kind: imported when needed
        from bigearth.slim.spec import SlimSpec

        cut_network(network, SlimSpec.from_dict(config[SLIM_KEY]))
