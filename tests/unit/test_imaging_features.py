"""Handcrafted lesion features and synthetic lesion crops."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm.ingest.synthetic_ct import lesion_crops, lesion_masks
from crlm.models.imaging import FEATURE_NAMES, lesion_features


def _patients(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "patient_id": [f"P{i:03d}" for i in range(n)],
        "n_liver_lesions": rng.integers(1, 6, n),
        "max_diameter_cm": np.round(rng.uniform(1.0, 8.0, n), 1),
        "imaging_phenotype": rng.standard_normal(n),
    })


def test_crops_shape_dtype_index_and_determinism():
    patients = _patients()
    crops, index = lesion_crops(patients, seed=7, size=48, slices=3)
    expected = np.minimum(patients["n_liver_lesions"], 3).sum()
    assert crops.shape == (expected, 3, 48, 48) and crops.dtype == np.int16
    assert list(index.columns[:3]) == ["patient_id", "lesion_index", "diameter_cm"]
    first = index[index.lesion_index == 0].set_index("patient_id")["diameter_cm"]
    np.testing.assert_allclose(first.loc[patients.patient_id], patients["max_diameter_cm"])
    assert (index.groupby("patient_id")["diameter_cm"].max().loc[patients.patient_id].to_numpy()
            == patients["max_diameter_cm"].to_numpy()).all()
    again, index_again = lesion_crops(patients, seed=7, size=48, slices=3)
    np.testing.assert_array_equal(crops, again)
    pd.testing.assert_frame_equal(index, index_again)
    other, _ = lesion_crops(patients, seed=8, size=48, slices=3)
    assert not np.array_equal(crops, other)


def test_crops_look_like_hypodense_lesions_in_liver():
    crops, index = lesion_crops(_patients(60), seed=1)
    masks = lesion_masks(index)
    centre = crops[:, 1].astype(float)
    inner = masks[:, 1]
    lesion_hu = centre[inner].mean()
    corner_hu = centre[:, :6, :6].mean()
    assert 25 < lesion_hu < 48
    assert 45 < corner_hu < 65
    noise = np.diff(centre[:, :8, :8], axis=-1).std() / np.sqrt(2)
    assert 7 < noise < 14


def test_stored_phenotype_drives_the_lesion_appearance():
    patients = _patients(200, seed=3)
    patients["imaging_phenotype"] = np.linspace(-2.5, 2.5, len(patients))
    crops, index = lesion_crops(patients, seed=2)
    masks = lesion_masks(index)
    signal = patients.set_index("patient_id")["imaging_phenotype"].loc[index.patient_id].to_numpy()
    feats = pd.DataFrame([
        lesion_features(c, m, (float(z), float(p), float(p)))
        for c, m, z, p in zip(crops, masks, index.slice_spacing_mm, index.pixel_spacing_mm)
    ])
    # responder-like phenotype: more homogeneous lesions, less central necrosis
    assert np.corrcoef(signal, feats["hu_sd"])[0, 1] < -0.3
    assert np.corrcoef(signal, feats["hu_p10"])[0, 1] > 0.3


def test_features_on_a_known_object():
    image = np.full((3, 40, 40), 60.0)
    mask = np.zeros_like(image, dtype=bool)
    yy, xx = np.mgrid[:40, :40]
    disc = (yy - 20) ** 2 + (xx - 20) ** 2 <= 10**2
    mask[:, disc] = True
    image[mask] = 30.0
    f = lesion_features(image, mask, (5.0, 0.5, 0.5))
    assert list(f) == list(FEATURE_NAMES)
    assert f["n_voxels"] == 3 * disc.sum()
    assert f["volume_ml"] == pytest.approx(3 * disc.sum() * 5 * 0.25 / 1000)
    assert f["max_diameter_cm"] == pytest.approx(1.05, abs=0.03)  # 2 x 10 px x 0.5 mm + 1 px
    assert f["hu_mean"] == 30 and f["hu_sd"] == 0 and f["hu_entropy_bits"] == 0
    assert f["glcm_contrast"] == 0 and f["glcm_energy"] == pytest.approx(1.0)
    assert f["lesion_minus_surround_hu"] == pytest.approx(-30)
    assert f["margin_gradient_hu_per_mm"] > 0
    f2d = lesion_features(image[1], mask[1], (0.5, 0.5))
    assert np.isnan(f2d["volume_ml"]) and f2d["max_area_cm2"] == pytest.approx(f["max_area_cm2"])


def test_feature_errors():
    with pytest.raises(ValueError, match="empty"):
        lesion_features(np.zeros((4, 4)), np.zeros((4, 4), bool), (1, 1))
    with pytest.raises(ValueError, match="differ"):
        lesion_features(np.zeros((4, 4)), np.zeros((4, 5), bool), (1, 1))
    with pytest.raises(ValueError, match="spacing"):
        lesion_features(np.zeros((2, 4, 4)), np.ones((2, 4, 4), bool), (1, 1))


def test_case_crop_matches_the_cohort_crop_geometry():
    from crlm.models.imaging import case_crop

    vol = np.full((20, 100, 100), 55.0, dtype=np.float32)
    zz, yy, xx = np.mgrid[:20, :100, :100]
    mask = ((zz - 10) * 2.5) ** 2 + ((yy - 40) * 0.8) ** 2 + ((xx - 60) * 0.8) ** 2 <= 12.0**2
    vol[mask] = 35.0
    crop = case_crop(vol, mask, (2.5, 0.8, 0.8), size=64, slices=3)
    assert crop.shape == (3, 64, 64) and crop.dtype == np.int16
    assert crop[1, 31:33, 31:33].mean() == pytest.approx(35, abs=1)
    assert crop[1, 0, 0] == 55
    # a 24 mm lesion fills 24 / (1.6 x 24) of the field of view: radius ~ 20 px
    row = crop[1, 31]
    assert 36 <= (row < 45).sum() <= 44


def test_rendering_reads_no_outcome_treatment_or_other_column():
    """Crops come from the stored phenotype and lesion size alone: adding, removing or
    permuting any other column (the response, survival, treatment) changes no pixel."""
    patients = _patients(30, seed=5)
    crops, index = lesion_crops(patients, seed=4, size=32)
    rng = np.random.default_rng(0)
    noisy = patients.assign(responder=rng.random(30) < 0.5, os_months=rng.uniform(1, 90, 30),
                            biologic=rng.choice(["anti-EGFR", "none"], 30))
    again, index_again = lesion_crops(noisy, seed=4, size=32)
    np.testing.assert_array_equal(crops, again)
    pd.testing.assert_frame_equal(index, index_again)


def test_crops_need_a_stored_phenotype():
    with pytest.raises(ValueError, match="no stored imaging phenotype"):
        lesion_crops(_patients(5).drop(columns="imaging_phenotype"), seed=1)
