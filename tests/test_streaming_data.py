"""Folder datasets decode once (in parallel) into an on-disk cache that training reads batch by batch;
several sources combine through a class-name mapping."""
import os

import cv2
import numpy as np
import pytest

from fer_files import make_rows
from fer_browser.training import imagecache
from fer_browser.training import train as train_mod
from fer_browser.training.checkpoint import load_checkpoint
from fer_browser.training.datasets import load_dataset, load_folder_dataset
from fer_browser.training.errors import DataError
from fer_browser.training.rowstore import ConcatRows, RowFile


def write_folder(root, classes, n_train=40, n_val=12, seed=3):
    labels, _, images = make_rows(seed=seed, num_classes=len(classes), sizes={"Training": n_train, "PublicTest": n_val})
    for i, (y, img) in enumerate(zip(labels, images)):
        folder = root / ("train" if i < n_train else "val") / classes[y]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i:04d}.png"), img)
    return root


def test_parallel_decode_into_the_cache_reads_back_exactly_and_is_keyed_by_the_files(tmp_path):
    root = write_folder(tmp_path / "faces", ["happy", "sad", "angry"])
    split_dirs = {"Training": root / "train", "PublicTest": root / "val"}
    info = imagecache.decode_folder(root, split_dirs, progress=False, workers=2, parallel_from=1)  # 2 processes
    files = imagecache.list_split(root / "train")[1]
    expected = np.stack([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files])
    rows = RowFile(info["dir"] / "Training.npy")
    np.testing.assert_array_equal(rows[np.arange(len(files))], expected)
    idx = np.array([7, 3, 3, 39, 0, 8, 9, 10])  # unsorted, repeated, runs: as a shuffled, padded batch reads them
    np.testing.assert_array_equal(rows[idx], expected[idx])
    np.testing.assert_array_equal(rows[5:17], expected[5:17])
    np.testing.assert_array_equal(rows.subset(np.array([4, 2]))[np.array([1, 0, 1])], expected[[2, 4, 2]])
    with pytest.raises(IndexError):
        rows[np.array([40])]

    data = load_folder_dataset(root)  # same files: the same cache entry, no second decode
    assert data.splits["Training"].images.path.parent == info["dir"] and data.classes == ("angry", "happy", "sad")
    assert data.splits["Training"].labels.tolist() == [data.classes.index(f.parent.name) for f in files]
    assert len(list(imagecache.cache_dir().iterdir())) == 1
    st = files[0].stat()
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # an edited file: a new key
    again = load_folder_dataset(root)
    assert again.splits["Training"].images.path.parent != info["dir"]
    assert again.source["images_sha256"] == data.source["images_sha256"]  # the pixels did not change


def test_csv_plus_a_folder_with_other_class_names(tmp_path, fer_csv):
    root = write_folder(tmp_path / "mine", ["angry", "contempt", "happy"])
    with pytest.raises(DataError, match=r"mine: class 'contempt' does not map to any of this run's classes "
                                        r"\(angry, disgust, fear, happy, sad, surprise, neutral\)"):
        load_dataset(fer_csv, folder=[root], label_set="fer2013", progress=False)
    data = load_dataset(fer_csv, folder=[root], label_set="fer2013", progress=False, class_map={"contempt": None})
    folder_only = load_folder_dataset(root)
    train = data.splits["Training"]
    kept = np.flatnonzero(folder_only.splits["Training"].labels != 1)  # contempt dropped
    assert len(train) == 280 + len(kept) and isinstance(train.images, ConcatRows)
    # folder rows come after the CSV's, relabelled into FER2013's order (angry 0, happy 3)
    assert train.labels[280:].tolist() == [{0: 0, 2: 3}[y] for y in folder_only.splits["Training"].labels[kept]]
    np.testing.assert_array_equal(train.images[np.array([280, 0])][0], folder_only.splits["Training"].images[kept[:1]][0])
    assert len(data.splits["PublicTest"]) == 70 + int((folder_only.splits["PublicTest"].labels != 1).sum())

    # the same through training.train: --class-map as JSON, both sources recorded in the checkpoint
    args = train_mod.parse_args(["--csv", str(fer_csv), "--folder", str(root), "--label-set", "fer2013",
                                 "--class-map", '{"contempt": null}', "--epochs", "1", "--no-progress",
                                 "--model", "vgg", "--hparams", '{"widths": [8, 16], "convs_per_stage": 1}',
                                 "--out", str(tmp_path / "run")])
    train_mod.train(args)
    meta = load_checkpoint(tmp_path / "run" / "last.pt")["metadata"]
    assert [set(s) for s in meta["data"]["sources"]] == [{"csv", "csv_sha256"}, {"folder", "images_sha256"}]

