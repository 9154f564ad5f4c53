"""Training augmentation, PCA colour noise and the 10-crop test, checked against hand-computed arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from alexnet_deploy.data.augment import TEN_CROP_ORDER, PCAColor, fit_rgb_pca, ten_crop, train_transform
from alexnet_deploy.data.images import eval_transform, load_rgb
from alexnet_deploy.errors import DataError

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def random_image(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture
def correlated_pngs(tmp_path):
    """Three PNGs whose pixels have a strongly correlated, known RGB covariance."""
    rng = np.random.default_rng(0)
    mix = np.array([[0.20, 0.02, 0.00], [0.18, -0.03, 0.01], [0.15, 0.00, -0.02]])
    paths = []
    for i in range(3):
        rgb = 0.5 + rng.standard_normal((40 * 50, 3)) @ mix.T
        arr = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8).reshape(40, 50, 3)
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(arr).save(paths[-1])
    return paths


def test_pca_is_the_eigendecomposition_of_the_pixel_covariance(correlated_pngs):
    pca = fit_rgb_pca(correlated_pngs, pixels_per_image=10**6)
    vals, vecs = pca.eigvals_array, pca.eigvecs_array
    pixels = np.concatenate([np.asarray(load_rgb(p), np.float64).reshape(-1, 3) / 255 for p in correlated_pngs])
    cov = np.cov(pixels, rowvar=False)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(3), atol=1e-12)  # orthonormal
    np.testing.assert_allclose(vecs @ np.diag(vals) @ vecs.T, cov, atol=1e-12)  # reconstructs the covariance
    assert vals[0] > vals[1] > vals[2] > 0
    assert vals[0] > 10 * vals[1]  # the data is dominated by one brightness-like direction
    assert np.all(vecs[:, 0] > 0)  # sign fixed: the largest component of each vector is positive


def test_pca_subsampling_is_seeded_and_close_to_the_full_fit(correlated_pngs):
    full = fit_rgb_pca(correlated_pngs, pixels_per_image=10**6)
    a = fit_rgb_pca(correlated_pngs, max_images=2, pixels_per_image=500, seed=1)
    assert a == fit_rgb_pca(correlated_pngs, max_images=2, pixels_per_image=500, seed=1)
    assert a != fit_rgb_pca(correlated_pngs, max_images=2, pixels_per_image=500, seed=2)
    np.testing.assert_allclose(a.eigvals[0], full.eigvals[0], rtol=0.15)
    assert abs(a.eigvecs_array[:, 0] @ full.eigvecs_array[:, 0]) > 0.99


def test_pca_perturbation_has_the_expected_spread():
    rng = np.random.default_rng(3)
    vecs, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    pca = PCAColor(eigvals=(0.2, 0.02, 0.005), eigvecs=vecs, sigma=0.1)
    torch.manual_seed(0)
    offsets = np.stack([pca.sample() for _ in range(20000)])
    coeffs = offsets @ pca.eigvecs_array  # alpha_i * lambda_i along each eigenvector
    np.testing.assert_allclose(coeffs.std(axis=0), 0.1 * np.array([0.2, 0.02, 0.005]), rtol=0.03)
    np.testing.assert_allclose(coeffs.mean(axis=0), 0, atol=3 * 0.1 * 0.2 / np.sqrt(20000))
    np.testing.assert_allclose(pca.perturbation([1.0, 0.0, 0.0]), 0.2 * pca.eigvecs_array[:, 0])


def test_pca_json_round_trip_and_shape_checks():
    pca = PCAColor(eigvals=np.array([0.3, 0.2, 0.1]), eigvecs=np.eye(3), sigma=0.05)
    data = json.loads(json.dumps(pca.to_dict()))
    assert PCAColor.from_dict(data) == pca and PCAColor.from_dict(data).sigma == 0.05
    with pytest.raises(ValueError):
        PCAColor(eigvals=(1.0, 2.0), eigvecs=np.eye(3))


def test_pca_fit_errors(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(DataError, match="bad.jpg"):
        fit_rgb_pca([bad])
    with pytest.raises(DataError):
        fit_rgb_pca([bad], skip_corrupt=True)
    with pytest.raises(DataError):
        fit_rgb_pca([])


def test_train_transform_matches_a_hand_replay_of_its_draws():
    img = random_image(40, 30)
    arr = np.asarray(img, np.float64) / 255
    pca = PCAColor(eigvals=(0.2, 0.02, 0.005), eigvecs=np.eye(3)[:, [2, 0, 1]], sigma=0.1)
    t = train_transform(input_size=20, resize=30, mean=MEAN, std=STD, pca=pca)
    flips = set()
    for seed in range(8):
        torch.manual_seed(seed)
        out = t(img)
        torch.manual_seed(seed)  # replay: left, top, flip, alpha, in that order
        left, top = int(torch.randint(0, 21, ())), int(torch.randint(0, 11, ()))
        flip = torch.rand(()).item() < 0.5
        alpha = torch.randn(3, dtype=torch.float64).numpy() * 0.1
        crop = arr[top : top + 20, left : left + 20]
        crop = crop[:, ::-1] if flip else crop
        expected = ((crop + pca.perturbation(alpha) - MEAN) / STD).transpose(2, 0, 1)
        assert out.dtype == np.float32 and out.shape == (3, 20, 20)
        np.testing.assert_allclose(out, expected, atol=1e-5)
        flips.add(flip)
    assert flips == {True, False}


def test_train_transform_shapes_ranges_and_resize():
    t = train_transform(input_size=24, resize=32, mean=(0, 0, 0), std=(1, 1, 1), pca=None, flip=False)
    torch.manual_seed(0)
    for w, h in ((100, 50), (33, 80), (32, 32)):
        out = t(random_image(w, h))
        assert out.shape == (3, 24, 24) and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
    # an input larger than resize is resized first, never cropped past the image
    big = train_transform(input_size=40, resize=32, mean=MEAN, std=STD, pca=None)
    assert big(random_image(50, 60)).shape == (3, 40, 40)


class _Images(Dataset):
    def __init__(self, transform):
        self.img, self.transform = random_image(48, 40), transform

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.from_numpy(self.transform(self.img))


def test_augmentations_replay_across_dataloader_workers():
    pca = PCAColor(eigvals=(0.2, 0.02, 0.005), eigvecs=np.eye(3))
    ds = _Images(train_transform(input_size=32, resize=40, mean=MEAN, std=STD, pca=pca))

    def run(seed):
        loader = DataLoader(ds, batch_size=4, num_workers=2, generator=torch.Generator().manual_seed(seed))
        return torch.cat(list(loader))

    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a[0], a[4])  # the two workers draw different augmentations


def test_ten_crop_matches_numpy_slicing():
    img = random_image(10, 8, seed=5)  # shorter side 8 = resize: no resampling
    arr = np.asarray(img, np.float64) / 255
    square = arr[:, 1:9]  # centre 8x8 of the 10-wide image
    s = 5
    expected = [square[0:5, 0:5], square[0:5, 3:8], square[3:8, 0:5], square[3:8, 3:8], square[1:6, 1:6]]
    expected += [c[:, ::-1] for c in expected]
    expected = np.stack([((c - MEAN) / STD).transpose(2, 0, 1) for c in expected])
    out = ten_crop(img, input_size=s, resize=8, mean=MEAN, std=STD)
    assert out.shape == (10, 3, 5, 5) and out.dtype == np.float32 and len(TEN_CROP_ORDER) == 5
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_ten_crop_centre_is_the_eval_transform():
    img = random_image(37, 29, seed=2)
    crops = ten_crop(img, input_size=20, resize=24, mean=MEAN, std=STD)
    centre = eval_transform(input_size=20, resize=24, mean=MEAN, std=STD)(img)
    np.testing.assert_allclose(crops[4], centre, atol=1e-6)
    np.testing.assert_allclose(crops[9], centre[:, :, ::-1], atol=1e-6)
