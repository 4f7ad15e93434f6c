"""FER-style CSVs decode once (in parallel) into an on-disk cache that training streams, with the same
images, labels, splits and order as decoding the CSV into RAM; a damaged cache is rebuilt."""
import json

import numpy as np
import pytest
import torch

from fer_files import make_rows, votes_for, write_fer_csv, write_votes
from fer_browser.training import csvcache
from fer_browser.training import train as train_mod
from fer_browser.training.cache import cache_dir, file_sha256
from fer_browser.training.checkpoint import load_checkpoint
from fer_browser.training.datasets import Dataset, Split, load_csv_dataset
from fer_browser.training.distributed import World, epoch_order, shard
from fer_browser.training.errors import DataError
from fer_browser.training.fer_csv import SPLITS, read_fer_csv
from fer_browser.training.ferplus_votes import read_votes
from fer_browser.training.labelsets import LABEL_SETS, get_label_set, make_targets
from fer_browser.training.rowstore import RowFile, read_rows


def in_ram_decode(csv, label_set, votes):
    """How the CSV was loaded before the stream cache (the whole file decoded into arrays in RAM)."""
    table = read_fer_csv(csv, progress=False)
    ls = get_label_set(label_set)
    keep, hard, soft = make_targets(ls, table.emotion, read_votes(votes, table.usage) if ls.needs_votes else None)
    splits = {}
    for i, name in enumerate(SPLITS):
        rows = np.flatnonzero(keep & (table.usage == i))
        splits[name] = Split(table.images[rows], hard[rows], None if soft is None else soft[rows])
    return Dataset(splits, ls.classes, label_set, {})


@pytest.fixture
def fer_files(tmp_path):
    """A tiny CSV + votes where the FERPlus rules drop images: unknown, contempt and tied majorities."""
    labels, usages, images = make_rows()
    votes = votes_for(np.random.default_rng(1).integers(0, 7, len(labels)))
    votes[5] = [0, 0, 0, 0, 0, 0, 0, 8, 2, 0]      # contempt: kept by ferplus8 only
    votes[290] = [0, 0, 0, 0, 0, 0, 0, 0, 9, 1]    # unknown majority (a PublicTest row): dropped
    votes[400] = [5, 5, 0, 0, 0, 0, 0, 0, 0, 0]    # a tie: no majority, dropped
    votes[401] = [3, 1, 1, 1, 1, 1, 1, 1, 0, 0]    # single votes dropped, then neutral holds all
    return (write_fer_csv(tmp_path / "fer2013.csv.gz", labels, usages, images, gz=True),
            write_votes(tmp_path / "fer2013new.csv", usages, votes))


@pytest.mark.parametrize("label_set", list(LABEL_SETS))
def test_streamed_splits_equal_the_in_ram_decode(fer_files, label_set):
    csv, votes = fer_files
    old = in_ram_decode(csv, label_set, votes)
    new = load_csv_dataset(csv, label_set, votes, progress=False)
    assert new.classes == old.classes and list(new.splits) == list(SPLITS)
    for name in SPLITS:
        a, b = old.splits[name], new.splits[name]
        assert isinstance(b.images, RowFile) and b.images.shape == a.images.shape
        np.testing.assert_array_equal(np.asarray(b.images), a.images)
        np.testing.assert_array_equal(b.labels, a.labels)
        assert (a.soft is None) == (b.soft is None) and (a.soft is None or np.array_equal(a.soft, b.soft))
    # the tensors training builds for an epoch's batches, on 1 and on 2 processes
    train_old, train_new = old.splits["Training"], new.splits["Training"]
    for world in (World(), World(rank=1, size=2)):
        order = shard(epoch_order(len(train_new), seed=0, epoch=3), world)
        for idx in order.split(32):
            got = torch.from_numpy(read_rows(train_new.images, idx.numpy()))
            torch.testing.assert_close(got, torch.from_numpy(train_old.images[idx.numpy()]), rtol=0, atol=0)
    assert len(list(cache_dir().iterdir())) == 1  # one cache folder, shared by every label set


def test_training_from_the_stream_equals_training_from_ram(tmp_path, fer_files):
    csv, votes = fer_files
    argv = ["--csv", str(csv), "--votes", str(votes), "--label-set", "ferplus-soft", "--epochs", "1",
            "--model", "vgg", "--hparams", '{"widths": [8, 16], "convs_per_stage": 1}', "--batch-size", "32",
            "--threads", "1", "--no-progress", "--limit", "200"]
    train_mod.train(train_mod.parse_args([*argv, "--out", str(tmp_path / "stream")]))
    train_mod.train(train_mod.parse_args([*argv, "--out", str(tmp_path / "ram")]),
                    data=in_ram_decode(csv, "ferplus-soft", votes))
    a = load_checkpoint(tmp_path / "stream" / "last.pt")
    b = load_checkpoint(tmp_path / "ram" / "last.pt")
    assert a["history"][0]["val_acc"] == b["history"][0]["val_acc"]
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=0, atol=0, msg=k)


def test_parallel_decode_equals_serial_and_publishes_only_complete_folders(tmp_path, fer_files):
    csv, _ = fer_files
    digest = file_sha256(csv)
    serial = csvcache.decode_csv(csv, digest, progress=False, workers=1)
    files = {f.name: f.read_bytes() for f in serial.iterdir()}
    assert sorted(files) == sorted([*csvcache.FILES, "manifest.json"])
    for f in serial.iterdir():
        f.unlink()
    serial.rmdir()
    parallel = csvcache.decode_csv(csv, digest, progress=False, workers=2, parallel_from=0)  # 2 processes
    assert parallel == serial and {f.name: f.read_bytes() for f in parallel.iterdir()} == files
    assert [p.name for p in cache_dir().iterdir()] == [serial.name]  # no temp folder left behind
    assert json.loads((serial / "info.json").read_text())["rows"] == 420


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_manifest", "extra_file", "bad_info"])
def test_a_damaged_cache_is_detected_and_rebuilt(tmp_path, fer_files, capsys, damage):
    csv, _ = fer_files
    first = load_csv_dataset(csv, "fer2013", progress=False)
    expected = np.asarray(first.splits["Training"].images)
    folder = first.splits["Training"].images.path.parent
    images = folder / "images.npy"
    if damage == "truncate":  # e.g. a full disk or a copy cut short
        images.write_bytes(images.read_bytes()[:-1000])
    elif damage == "flip":
        raw = bytearray(images.read_bytes())
        raw[5000] ^= 1
        images.write_bytes(bytes(raw))
    elif damage == "delete_manifest":  # as a copy interrupted before its last file
        (folder / "manifest.json").unlink()
    elif damage == "extra_file":
        (folder / "stray.bin").write_bytes(b"x")
    else:
        (folder / "info.json").write_text("{")
    again = load_csv_dataset(csv, "fer2013", progress=False)
    assert "damaged or incomplete cache" in capsys.readouterr().err
    np.testing.assert_array_equal(np.asarray(again.splits["Training"].images), expected)
    assert csvcache.problem(folder) is None  # rebuilt in place, whole again


def test_an_interrupted_decode_leaves_no_cache(tmp_path, monkeypatch):
    labels, usages, images = make_rows()
    csv = write_fer_csv(tmp_path / "fer.csv", labels, usages, images)

    def interrupt(*a):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(csvcache, "_npy_header", interrupt)  # after every row was written, before publishing
        with pytest.raises(KeyboardInterrupt):
            load_csv_dataset(csv, "fer2013", progress=False)
    assert not list(cache_dir().iterdir())
    # a temp folder left by a killed decode (its process is gone) is cleared by the next decode
    stale = cache_dir() / f"{csvcache.cache_folder(file_sha256(csv)).name}.tmp-999999999"
    stale.mkdir(parents=True)
    load_csv_dataset(csv, "fer2013", progress=False)
    assert [p.name for p in cache_dir().iterdir()] == [csvcache.cache_folder(file_sha256(csv)).name]


def test_an_unwritable_cache_is_one_clear_error(tmp_path, fer_csv, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "a-file" / "cache"))  # (root ignores chmod)
    with pytest.raises(DataError, match=r"a-file/cache: cannot write the decoded-data cache \(.+\); "
                                        "set FER_CACHE_DIR to a writable folder"):
        load_csv_dataset(fer_csv, "fer2013", progress=False)


PX = " ".join(["7"] * 2304)


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_rows_report_the_first_error_in_file_order(tmp_path, workers):
    """A pixel error in an early block wins over a label error the reader meets later, even when
    workers parse the blocks; the messages are read_fer_csv's (file, row, column)."""
    rows = [f"0,{PX},Training"] * 600
    rows[10] = f"0,{' '.join(['7'] * 2303)} 300,Training"       # row 12: pixel out of range
    rows[300] = f"9,{PX},Training"                               # row 302: bad label
    path = tmp_path / "bad.csv"
    path.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as err:
        csvcache.decode_csv(path, file_sha256(path), progress=False, workers=workers, parallel_from=0)
    assert str(err.value) == f"{path}: row 12: pixel values must lie in 0..255 (column pixels)"
    with pytest.raises(DataError) as old:
        read_fer_csv(path, progress=False)
    assert str(old.value) == str(err.value)
    assert not list(cache_dir().iterdir())  # the failed decode's temp folder is gone
