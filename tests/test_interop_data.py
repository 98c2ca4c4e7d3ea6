"""Plain PyTorch and TorchGeo habits: the default collate, fork workers, transforms=, root=, normalise=False, plot."""

from pathlib import Path

import kornia.augmentation as K  # noqa: N812
import lightning as L  # noqa: N812
import numpy as np
import pytest
import safetensors.numpy
import torch
from torch.utils.data import DataLoader

from bigearth.data.datamodule import ReBENDataModule
from bigearth.data.dataset import ReBENDataset, keep_batch
from bigearth.data.store import StoreReader
from bigearth.errors import ConfigError
from bigearth.nomenclature import CLASSES_TABLE


def test_default_collate_gives_the_batch_route_values(mini_store: Path) -> None:
    dataset = ReBENDataset(mini_store, split="train", bands=14, with_mask=True)
    plain = next(iter(DataLoader(dataset, batch_size=8)))
    fast = next(iter(DataLoader(dataset, batch_size=8, collate_fn=keep_batch)))
    assert type(fast) is dict
    assert set(plain) == set(fast) == {"image", "label", "mask", "patch_id", "lat", "lon"}
    for key in ("image", "label", "mask", "lat", "lon"):
        assert plain[key].dtype == fast[key].dtype
        torch.testing.assert_close(plain[key], fast[key], rtol=0, atol=0)
    assert plain["image"].shape == (8, 14, 120, 120)
    assert plain["lat"].dtype == torch.float64
    assert plain["patch_id"] == fast["patch_id"] == [str(name) for name in dataset.index.patch_id[:8]]


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_workers_after_the_parent_has_read(mini_store: Path, context: str) -> None:
    dataset = ReBENDataset(mini_store, split="train", bands="s1s2")
    first = dataset[0]  # opens the LMDB in the parent: a forked worker inherits py-lmdb's registry
    loader = DataLoader(dataset, batch_size=8, num_workers=2, multiprocessing_context=context)
    batches = iter(loader)
    parallel = [next(batches), next(batches)]
    del batches  # shuts the workers down now
    torch.testing.assert_close(parallel[0]["image"][0], first["image"], rtol=0, atol=0)
    serial = dataset.__getitems__(list(range(8, 16)))
    torch.testing.assert_close(parallel[1]["image"], serial["image"], rtol=0, atol=0)
    assert dataset[1]["patch_id"] == parallel[0]["patch_id"][1]  # the parent reads again after the fork


def test_transforms_on_sample_dicts_with_kornia(mini_store: Path) -> None:
    flip = K.AugmentationSequential(K.RandomHorizontalFlip(p=1.0), data_keys=None, keepdim=True)
    plain = ReBENDataset(mini_store, split="validation", bands=["B04", "VV"], with_mask=True)
    flipped = ReBENDataset(mini_store, split="validation", bands=["B04", "VV"], with_mask=True, transforms=flip)
    sample, expected = flipped[2], plain[2]
    torch.testing.assert_close(sample["image"], expected["image"].flip(-1), rtol=0, atol=0)
    assert torch.equal(sample["mask"], expected["mask"].flip(-1))
    assert torch.equal(sample["label"], expected["label"])
    # both routes transform every sample
    for batch in (next(iter(DataLoader(flipped, batch_size=4))), flipped.__getitems__([0, 1, 2, 3])):
        torch.testing.assert_close(batch["image"][2], expected["image"].flip(-1), rtol=0, atol=0)


def test_root_alias_and_its_errors(mini_store: Path) -> None:
    assert (
        ReBENDataset(root=mini_store, split="test", bands=2)[0]["patch_id"]
        == ReBENDataset(mini_store, split="test", bands=2)[0]["patch_id"]
    )
    with pytest.raises(ConfigError, match="both were given"):
        ReBENDataset(mini_store, root=mini_store)
    with pytest.raises(ConfigError, match="neither was given"):
        ReBENDataset()


def test_unnormalised_values_are_native_units(mini_store: Path) -> None:
    dataset = ReBENDataset(mini_store, split="train", bands=["VH", "B05", "B02"], normalise=False)
    sample = dataset[0]
    reader = StoreReader(mini_store)
    s2 = safetensors.numpy.load(reader.get(sample["patch_id"]))
    s1 = safetensors.numpy.load(reader.get(str(dataset.index.s1_name[0])))
    assert sample["image"].dtype == torch.float32
    np.testing.assert_array_equal(sample["image"][0].numpy(), s1["VH"])
    np.testing.assert_array_equal(sample["image"][1].numpy(), np.repeat(np.repeat(s2["B05"], 2, 0), 2, 1))
    np.testing.assert_array_equal(sample["image"][2].numpy(), s2["B02"].astype(np.float32))


def test_plot_shows_labels_and_predictions(mini_store: Path) -> None:
    dataset = ReBENDataset(mini_store, split="test", bands=14, with_mask=True)
    sample = dict(dataset[0])
    prediction = torch.zeros(19)
    prediction[[0, 9]] = torch.tensor([0.9, 0.7])  # Urban fabric, Coniferous forest (table order)
    sample["prediction"] = prediction
    labels = ", ".join(CLASSES_TABLE[i] for i in torch.nonzero(sample["label"]).flatten().tolist())
    figure = dataset.plot(sample, show_titles=True, suptitle="a patch")
    title = f"a patch labels: {labels} predicted: Urban fabric, Coniferous forest"
    assert " ".join(figure._suptitle.get_text().split()) == title  # lines wrapped to the figure's width
    assert [axis.get_title() for axis in figure.axes][:2] == ["true colour (B04 B03 B02)", "false colour (B08 B04 B03)"]
    bare = dataset.plot(sample, show_titles=False)
    assert bare._suptitle.get_text() == sample["patch_id"]
    assert all(axis.get_title() == "" for axis in bare.axes)


def test_datamodule_runs_the_augmentation_on_training_batches(mini_store: Path) -> None:
    flip = K.AugmentationSequential(K.RandomVerticalFlip(p=1.0), data_keys=None, keepdim=True)
    module = ReBENDataModule(mini_store, bands=2, batch_size=4, augment=False, augmentation=flip, with_mask=True)
    module.setup("fit")
    batch = next(iter(module.val_dataloader()))
    module.trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False)
    unchanged = module.on_after_batch_transfer(dict(batch), 0)
    module.trainer.training = True
    flipped = module.on_after_batch_transfer(dict(batch), 0)
    torch.testing.assert_close(flipped["image"], unchanged["image"].flip(-2), rtol=0, atol=0)
    assert torch.equal(flipped["mask"], unchanged["mask"].flip(-2))
