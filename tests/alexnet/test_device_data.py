"""The device data path (torchvision.io decoding, batched augmentation) agrees with the PIL path in distribution.

Run on the CPU: the same code runs on CUDA, where only the decoder (nvJPEG) and the random streams differ.
"""

import pytest
import torch

from alexnet import data
from alexnet.device_data import DeviceJPEGLoader, augment_batch, resize_center_crop_tensor

from .conftest import IMAGENET_ZIP, needs_imagenet, write_images

pytest.importorskip("torchvision.io")


def _coordinate_image(size=32):
    """Channel 0 holds the row, channel 1 the column, channel 2 is flat: a crop's first pixel tells where it was."""
    rows = torch.arange(size).view(size, 1).expand(size, size)
    cols = torch.arange(size).view(1, size).expand(size, size)
    return torch.stack([rows, cols, torch.full((size, size), 100)]).to(torch.uint8)


def _positions(out, crop):
    top, first, last = out[:, 0, 0, 0], out[:, 1, 0, 0], out[:, 1, 0, crop - 1]
    flipped = first > last
    left = torch.where(flipped, last, first)
    return top.long(), left.long(), flipped


def test_crops_and_flips_are_drawn_like_the_per_image_path():
    image, crop, draws = _coordinate_image(), 24, 6000
    pre = data.Preprocess(None, crop, train=True, pca_std=0.0)
    batched = augment_batch(image.expand(draws, -1, -1, -1), pre, torch.Generator().manual_seed(0))
    single = torch.stack([pre(image, torch.Generator().manual_seed(s)) for s in range(draws)])
    for out in (batched, single):
        top, left, flipped = _positions(out, crop)
        assert set(top.tolist()) == set(range(9)) and set(left.tolist()) == set(range(9))  # 32 - 24 + 1 places
        # Uniform over 9 places: each count near draws / 9 (binomial sd ~ 24).
        assert torch.bincount(top, minlength=9).sub(draws / 9).abs().max() < 120
        assert torch.bincount(left, minlength=9).sub(draws / 9).abs().max() < 120
        assert abs(flipped.float().mean().item() - 0.5) < 0.03
    # A flipped crop is the mirror image of the unflipped one at the same place.
    top, left, flipped = _positions(batched, crop)
    i = int(flipped.nonzero()[0])
    expected = image[:, top[i] : top[i] + crop, left[i] : left[i] + crop].flip(-1).float()
    torch.testing.assert_close(batched[i], expected)


def test_pca_colour_shift_has_the_same_distribution():
    image, draws = torch.full((3, 8, 8), 128, dtype=torch.uint8), 8000
    pre = data.Preprocess(None, 8, train=True, pca_std=0.1, flip=False)
    batched = augment_batch(image.expand(draws, -1, -1, -1), pre, torch.Generator().manual_seed(1))[:, :, 0, 0] - 128
    single = torch.stack([pre(image, torch.Generator().manual_seed(s))[:, 0, 0] for s in range(draws)]) - 128
    expected_cov = (255 * pre.eigvec * (0.1 * pre.eigval)) @ (255 * pre.eigvec * (0.1 * pre.eigval)).T
    for shifts in (batched, single):
        assert shifts.mean(0).abs().max() < 0.2
        torch.testing.assert_close(torch.cov(shifts.T), expected_cov, rtol=0.08, atol=0.05)


def test_evaluation_is_the_centre_crop_minus_the_mean():
    images = torch.randint(0, 256, (4, 3, 20, 20), dtype=torch.uint8)
    mean = torch.full((3, 1, 1), 100.0)
    pre = data.Preprocess(mean, 16, train=False)
    expected = torch.stack([pre(img) for img in images])
    torch.testing.assert_close(augment_batch(images, pre), expected)


def test_resize_matches_pil_closely():
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    small = torch.randint(0, 256, (3, 30, 40), generator=gen, dtype=torch.uint8)
    smooth = torch.nn.functional.interpolate(small[None].float(), size=(300, 400), mode="bilinear")[0]
    image = smooth.round().clamp(0, 255).to(torch.uint8)
    ours = resize_center_crop_tensor(image, 256)
    pil = data.resize_center_crop(Image.fromarray(image.permute(1, 2, 0).numpy()), 256)
    assert ours.shape == pil.shape == (3, 256, 256)
    assert (ours.float() - pil.float()).abs().mean() < 1.5  # two bilinear resamplers, not bit-identical


def test_loader_serves_the_epoch_plan_and_skips_unreadable_files(tmp_path):
    root = write_images(tmp_path / "imgs", 2, 5, (40, 30), ext=".jpg")
    (root / "class1" / "zz-broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    dataset = data.ImageFolder(root, size=32)
    dataset.transform = data.Preprocess(torch.full((3, 1, 1), 128.0), 28, train=True)
    loader = DeviceJPEGLoader(dataset, 4, device="cpu", threads=2)
    plan = data.EpochLoader(dataset, 4).plan(0)
    with pytest.warns(UserWarning, match="skipping 1 unreadable"):
        batches = list(loader.epoch(0))
    assert loader.skipped == 1 and sum(len(y) for _, y in batches) == 10
    readable = [i for indices, _ in plan for i in indices if "broken" not in str(dataset.samples[i][0])]
    labels = [dataset.samples[i][1] for i in readable]
    assert torch.cat([y for _, y in batches]).tolist() == labels
    assert all(x.shape[1:] == (3, 28, 28) and x.dtype == torch.float32 for x, _ in batches)
    again = list(DeviceJPEGLoader(dataset, 4, device="cpu", threads=2).epoch(0, start_batch=1))
    torch.testing.assert_close(again[0][0], batches[1][0])  # resumable at any batch, same augmentation


@needs_imagenet
def test_real_imagenet_jpegs_decode_like_pil():
    root = data.resolve_folder(IMAGENET_ZIP)
    dataset = data.ImageFolder(root)
    dataset.transform = data.Preprocess(None, 256, train=False)
    loader = DeviceJPEGLoader(dataset, 8, device="cpu", shuffle=False, threads=2)
    x, y = next(loader.epoch(0))
    pil = torch.stack([dataset.load(i).float() for i in range(8)])
    assert y.tolist() == [dataset.samples[i][1] for i in range(8)]
    assert (x - pil).abs().mean() < 3.0  # libjpeg-turbo vs PIL's decoder, and two resamplers


def test_the_trainer_decodes_on_the_gpu_for_image_folders_on_cuda(tmp_path):
    from alexnet.data import EpochLoader, train_loader

    root = write_images(tmp_path / "imgs", 2, 2, 40, ext=".jpg")
    dataset = data.ImageFolder(root, size=32)
    dataset.transform = data.Preprocess(None, 28, train=True)
    assert isinstance(train_loader(dataset, 2, torch.device("cuda"), seed=0), DeviceJPEGLoader)
    assert isinstance(train_loader(dataset, 2, torch.device("cpu"), seed=0), EpochLoader)
