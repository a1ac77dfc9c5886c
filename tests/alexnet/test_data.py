"""Data: image folders, the paper's preprocessing, zips and caches, exact-resume loaders, and the real data."""

import warnings
import zipfile

import pytest
import torch

from alexnet import data
from alexnet.data import EpochLoader, ImageFolder, Preprocess, TensorImages

from .conftest import CIFAR_ZIP, IMAGENET_ZIP, needs_cifar, needs_imagenet


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch, request):
    # Each test gets its own cache, except those on the shared data, which reuse the real one (extracting and
    # decoding CIFAR-10 takes ~20 s; doing it once per machine is what the cache is for).
    if "shared" not in request.node.name:
        monkeypatch.setenv("ALEXNET_LAB_CACHE", str(tmp_path / "cache"))


def test_image_folder_lists_sorted_classes_and_rescales_to_256(tiny_folder):
    ds = ImageFolder(tiny_folder)
    assert ds.classes == ["class0", "class1", "class2"]
    assert len(ds) == 3 * 4 + 1 + 1  # the corrupt file is listed; it fails when read
    image, label = ds[0]
    assert image.shape == (3, 256, 256) and image.dtype == torch.uint8 and label == 0
    portrait = next(i for i, (p, _) in enumerate(ds.samples) if p.suffix == ".png")
    assert ds[portrait][0].shape == (3, 256, 256)


def test_corrupt_image_is_skipped_and_counted_not_crashed(tiny_folder):
    ds = ImageFolder(tiny_folder, transform=Preprocess(None, 227, train=False))
    bad = next(i for i, (p, _) in enumerate(ds.samples) if p.name == "broken.jpg")
    with pytest.warns(UserWarning, match="skipping unreadable image.*broken.jpg"):
        assert ds[bad] is None
    loader = EpochLoader(ds, batch_size=4, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seen = sum(len(y) for _, y in loader.epoch(0))
    assert seen == len(ds) - 1 and loader.skipped == 1
    with pytest.warns(UserWarning, match="1 of 14 images"):
        assert [p.name for p in ds.verify()] == ["broken.jpg"]
    with pytest.raises(data.CorruptImageError, match="broken.jpg"):
        ds.load(bad)


def test_train_preprocessing_is_random_per_seed_and_reproducible():
    image = torch.randint(0, 256, (3, 256, 256), dtype=torch.uint8)
    mean = image.float().mean(dim=(1, 2), keepdim=True)
    pre = Preprocess(mean, 227, train=True)
    a = pre(image, torch.Generator().manual_seed(1))
    b = pre(image, torch.Generator().manual_seed(1))
    c = pre(image, torch.Generator().manual_seed(2))
    assert a.shape == (3, 227, 227) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_eval_preprocessing_is_the_centre_crop_minus_the_mean():
    image = torch.arange(3 * 256 * 256).remainder(251).to(torch.uint8).view(3, 256, 256)
    mean = torch.full((3, 256, 256), 10.0)
    out = Preprocess(mean, 224, train=False)(image)
    assert torch.equal(out, image[:, 16:240, 16:240].float() - 10.0)
    assert torch.equal(Preprocess(mean, 224, train=False).batch(image[None], [0])[0], out)


def test_pca_colour_shift_follows_the_eigenvectors_with_sigma_point_one():
    eigval, eigvec = torch.tensor(data.IMAGENET_EIGVAL), torch.tensor(data.IMAGENET_EIGVEC)
    gen = torch.Generator().manual_seed(0)
    shifts = torch.stack([data.pca_shift(eigval, eigvec, 0.1, gen) for _ in range(4000)])
    # Projected on eigenvector i, the shift is 255 * a_i * l_i with a_i ~ N(0, 0.1).
    projected = shifts @ eigvec
    torch.testing.assert_close(projected.std(0), 255 * 0.1 * eigval, rtol=0.06, atol=0.01)


def test_ten_crops_are_corners_centre_and_mirrors():
    x = torch.randn(3, 256, 256)
    crops = data.ten_crops(x, 227)
    assert crops.shape == (10, 3, 227, 227)
    assert torch.equal(crops[0], x[:, :227, :227]) and torch.equal(crops[3], x[:, 29:, 29:])
    assert torch.equal(crops[4], x[:, 14:241, 14:241]) and torch.equal(crops[5], crops[0].flip(-1))


def test_zip_is_extracted_once_into_the_cache(tmp_path, tiny_cifar):
    archive = tmp_path / "c.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in tiny_cifar.rglob("*.png"):
            z.write(path, path.relative_to(tiny_cifar))
    first = data.extract_zip(archive)
    assert first.is_relative_to(data.cache_dir()) and (first / "train" / "class0" / "000.png").is_file()
    (first / "marker").write_text("x")
    assert data.extract_zip(archive) == first and (first / "marker").exists()  # not extracted again
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_bad_zip_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a valid zip archive"):
        data.extract_zip(bad)
    with pytest.raises(FileNotFoundError, match="no such file"):
        data.extract_zip(tmp_path / "missing.zip")


def test_loader_resumed_at_batch_k_yields_the_remaining_batches_exactly(tiny_cifar):
    sets = data.load_datasets(tiny_cifar, input_size=32, augment=True)
    loader = EpochLoader(sets.train, batch_size=5, seed=3)
    full = list(loader.epoch(2))
    resumed = list(loader.epoch(2, start_batch=4))
    assert len(full) == len(loader) == 10 and len(resumed) == 6
    for (xa, ya), (xb, yb) in zip(full[4:], resumed):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(list(loader.epoch(3))[0][0], full[0][0])  # another epoch, another order


def test_worker_processes_give_the_same_batches(tiny_folder):
    ds = ImageFolder(tiny_folder, transform=Preprocess(None, 64, train=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = list(EpochLoader(ds, 4, seed=1).epoch(0))
        multi = EpochLoader(ds, 4, seed=1, num_workers=2)
        workers = list(multi.epoch(0))
    assert len(single) == len(workers)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(single, workers))
    assert multi.skipped == 1


def test_decoded_tensors_are_cached(tiny_cifar):
    first = data.decode_folder(tiny_cifar / "train", progress=False)
    assert first.images.shape == (48, 3, 32, 32) and first.images.dtype == torch.uint8
    assert len(list(data.cache_dir().glob("decoded-train-*.pt"))) == 1
    again = data.decode_folder(tiny_cifar / "train", progress=False)
    assert torch.equal(again.images, first.images) and again.classes == first.classes


def test_small_images_are_standardised_and_augmented(tiny_cifar):
    sets = data.load_datasets(tiny_cifar, input_size=32)
    x, _ = sets.val.get_batch(list(range(len(sets.val))), [0] * len(sets.val))
    assert x.shape == (12, 3, 32, 32)
    assert sets.train.transform.pad == 4 and sets.train.transform.train and sets.val.transform.std is not None


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(mean="median"), ValueError, "mean must be"),
        (dict(source="/no/such/folder"), FileNotFoundError, "no such data folder"),
    ],
)
def test_bad_data_arguments(tiny_cifar, kwargs, error, message):
    with pytest.raises(error, match=message):
        data.load_datasets(kwargs.pop("source", tiny_cifar), input_size=227, **kwargs)


def test_tensor_images_check_their_inputs():
    with pytest.raises(ValueError, match="images must be uint8"):
        TensorImages(torch.zeros(2, 3, 4, 4), torch.zeros(2), ["a"])
    with pytest.raises(ValueError, match="labels must be"):
        TensorImages(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3), ["a"])


@needs_cifar
def test_shared_cifar10_zip_loads_through_the_same_code():
    train = data.cifar10(CIFAR_ZIP, train=True)
    test = data.cifar10(CIFAR_ZIP, train=False)
    assert len(train) == 50_000 and len(test) == 10_000
    assert train.classes == list(data.CIFAR10_CLASSES) and train.images.shape[1:] == (3, 32, 32)
    assert torch.bincount(train.labels).tolist() == [5000] * 10


@needs_imagenet
def test_shared_imagenet_samples_get_the_papers_preprocessing():
    with pytest.warns(UserWarning, match="validating on the training images"):
        sets = data.load_datasets(IMAGENET_ZIP, input_size=227, mean="imagenet")
    assert len(sets.classes) == 1000 and sets.classes[0] == "n01440764"  # sorted wnids: standard indices
    x, label = sets.train[(0, 123)]
    assert x.shape == (3, 227, 227) and label == 0 and abs(x.mean().item()) < 80
    x_val, _ = sets.val[0]
    assert x_val.shape == (3, 227, 227)


def test_chunked_moments_equal_the_one_shot_ones():
    images = torch.randint(0, 256, (1000, 3, 8, 8), dtype=torch.uint8)
    mean_pixel, std_channel = data.tensor_moments(images, chunk=300)
    torch.testing.assert_close(mean_pixel, images.float().mean(0))
    torch.testing.assert_close(std_channel.flatten(), images.float().std((0, 2, 3), correction=0), rtol=1e-5, atol=1e-4)
