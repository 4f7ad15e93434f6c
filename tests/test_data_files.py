"""Reading FER2013 CSVs and FERPlus votes: happy paths, cache, and every bad-input error."""
import numpy as np
import pytest

from fer_files import make_rows, votes_for, write_fer_csv, write_votes
from fer_browser.training import cache, csvcache
from fer_browser.training.datasets import load_csv_dataset
from fer_browser.training.errors import DataError
from fer_browser.training.fer_csv import read_fer_csv
from fer_browser.training.ferplus_votes import VOTE_COLUMNS, read_votes


def test_reads_plain_and_gzip_identically(tmp_path):
    labels, usages, images = make_rows()
    plain = read_fer_csv(write_fer_csv(tmp_path / "a.csv", labels, usages, images), progress=False)
    gz = read_fer_csv(write_fer_csv(tmp_path / "b.csv.gz", labels, usages, images, gz=True), progress=False)
    assert plain.images.shape == (420, 48, 48) and plain.images.dtype == np.uint8
    np.testing.assert_array_equal(plain.images, images)
    np.testing.assert_array_equal(plain.emotion, labels)
    np.testing.assert_array_equal(plain.images, gz.images)
    assert list(np.bincount(plain.usage)) == [280, 70, 70]


def _bad_csv(tmp_path, rows, header="emotion,pixels,Usage"):
    path = tmp_path / "bad.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


GOOD_PIXELS = " ".join(["7"] * 2304)


@pytest.mark.parametrize("header,rows,message", [
    ("emotion,Usage", ["0,Training"], "missing column(s) pixels"),
    (None, [f"0,{GOOD_PIXELS},Training", "1,1 2 3,Training"], "row 3: expected 2304 pixels (48x48), got 3 (column pixels)"),
    (None, [f"0,{' '.join(['7'] * 2303)} x7,Training"], "row 2: non-numeric pixel value 'x7' (column pixels)"),
    (None, [f"0,{' '.join(['7'] * 2303)} 300,Training"], "row 2: pixel values must lie in 0..255 (column pixels)"),
    (None, [f"9,{GOOD_PIXELS},Training"], "row 2: emotion label '9' is not in 0..6 (column emotion)"),
    (None, [f"-1,{GOOD_PIXELS},Training"], "row 2: emotion label '-1'"),
    (None, [f"0,{GOOD_PIXELS},Validation"], "row 2: Usage 'Validation' is not one of"),
    # str.isdigit() says yes to a superscript two, int() says no: once a traceback, now one line
    (None, [f"0,{GOOD_PIXELS},Training", f"0,{' '.join(['7'] * 2303)} \u00b2,Training"],
     "row 3: non-numeric pixel value '\u00b2' (column pixels)"),
    (None, [f"\u00b2,{GOOD_PIXELS},Training"], "row 2: emotion label '\u00b2' is not in 0..6 (column emotion)"),
    # int() and numpy accept other scripts' digits (Arabic-Indic three): silently read as 3 before
    (None, [f"0,{' '.join(['7'] * 2303)} \u0663,Training"], "row 2: non-numeric pixel value '\u0663' (column pixels)"),
    (None, [f"\u0663,{GOOD_PIXELS},Training"], "row 2: emotion label '\u0663'"),
    (None, [f"0,{GOOD_PIXELS}"], "row 2: expected 3 fields, got 2"),
    (None, [], "no data rows"),
])
def test_malformed_csv_names_file_and_row(tmp_path, header, rows, message):
    path = _bad_csv(tmp_path, rows, header or "emotion,pixels,Usage")
    with pytest.raises(DataError) as err:
        read_fer_csv(path, progress=False)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    with pytest.raises(DataError) as cached:  # the decode into training's cache: the same one line
        csvcache.decode_csv(path, cache.file_sha256(path), progress=False, workers=1)
    assert str(cached.value) == str(err.value)


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "nan", "inf", "-1", "x"])
def test_bad_vote_counts_name_file_row_and_column(tmp_path, value):
    labels, usages, _ = make_rows(sizes={"Training": 3})
    path = write_votes(tmp_path / "v.csv", usages, votes_for(labels))
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[3] = value  # the 'happiness' column of the third data row (file row 4)
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_votes(path)
    assert str(err.value) == f"{path}: row 4: vote count {value!r} is not a non-negative number (column happiness)"


@pytest.mark.parametrize("module, bad_row", [
    ("training.train", "0,{px} \u00b2,Training"),
    ("training.train", "\u00b2,{px} 7,Training"),
])
def test_cli_gives_one_line_for_a_bad_csv_cell(tmp_path, module, bad_row):
    """The CLI a user meets first: one line naming file, row and column, no traceback."""
    import subprocess
    import sys

    from conftest import ROOT
    path = tmp_path / "bad.csv"
    path.write_text("emotion,pixels,Usage\n" + bad_row.format(px=" ".join(["7"] * 2303)) + "\n", encoding="utf-8")
    args = ["--csv", str(path), "--out", str(tmp_path / "run")]
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert len(errors) == 1 and str(path) in errors[0] and "row 2: " in errors[0] and "(column " in errors[0], proc.stderr


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_fer_csv(tmp_path / "nope.csv")
    bad = tmp_path / "photo.csv"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 50)
    with pytest.raises(DataError):
        read_fer_csv(bad, progress=False)


def test_votes_join_by_row_and_reject_misaligned_files(tmp_path, fer_csv):
    labels, usages, _ = make_rows()
    table = read_fer_csv(fer_csv, progress=False)
    votes = read_votes(write_votes(tmp_path / "v.csv", usages, votes_for(labels)), table.usage)
    assert votes.shape == (420, 10)
    with pytest.raises(DataError, match="has 420"):
        read_votes(write_votes(tmp_path / "short.csv", usages[:-1], votes_for(labels[:-1])), table.usage)
    swapped = list(usages)
    swapped[300] = "Training"  # row 302 of the file says Training where FER2013 says PublicTest
    with pytest.raises(DataError, match=r"row 302: Usage 'Training' disagrees with FER2013 \('PublicTest'\)"):
        read_votes(write_votes(tmp_path / "swap.csv", swapped, votes_for(labels)), table.usage)
    (tmp_path / "cols.csv").write_text("Usage,neutral\nTraining,3\n")
    with pytest.raises(DataError, match="missing column"):
        read_votes(tmp_path / "cols.csv")
    (tmp_path / "votes.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 50)  # not text: one line, no traceback
    with pytest.raises(DataError, match="votes.png: not a readable CSV"):
        read_votes(tmp_path / "votes.png")
    good = "Usage,Image name," + ",".join(VOTE_COLUMNS) + "\n" + "Training,x.png,10,0,0,0,0,0,0,0,0,0\n" * 1000
    (tmp_path / "torn.csv").write_bytes(good.encode() + b"\xff\xfe" * 500)  # bytes that are not text, 35 KB in
    with pytest.raises(DataError, match="torn.csv: not a readable CSV"):
        read_votes(tmp_path / "torn.csv")


def test_decoded_arrays_are_cached_by_content(tmp_path, fer_csv, monkeypatch):
    first = load_csv_dataset(fer_csv, "fer2013", progress=False)
    folders = list(cache.cache_dir().iterdir())
    assert [f.name for f in folders] == [f"fer2013-csv-{cache.file_sha256(fer_csv)[:24]}"]
    assert first.splits["Training"].images.path == folders[0] / "images.npy"  # streamed, not in RAM

    def must_not_parse(*a, **k):
        raise AssertionError("the CSV was parsed again although its decoded arrays are cached")

    monkeypatch.setattr("fer_browser.training.csvcache.iter_records", must_not_parse)
    second = load_csv_dataset(fer_csv, "fer2013", progress=False)
    np.testing.assert_array_equal(np.asarray(first.splits["Training"].images),
                                  np.asarray(second.splits["Training"].images))
    # Changed content -> new key -> parsed again (here: the guard fires).
    fer_csv.write_text(fer_csv.read_text().replace("\n0,", "\n1,", 1))
    with pytest.raises(AssertionError, match="parsed again"):
        load_csv_dataset(fer_csv, "fer2013", progress=False)


def test_compare_labels_counts_agreement_on_the_images_ferplus_keeps(tmp_path, capsys):
    from fer_browser.training.compare_labels import main

    labels, usages, images = make_rows(sizes={"Training": 6, "PublicTest": 4, "PrivateTest": 4})
    # FER2013 index -> FERPlus index (angry->anger 4, happy->happiness 1, neutral 0, ...)
    to_plus = [4, 5, 6, 1, 3, 2, 0]
    plus = np.array([to_plus[y] for y in labels])
    plus[:2] = (plus[:2] + 1) % 7  # two Training images where the annotators disagree
    votes = votes_for(plus)
    votes[-1] = 0
    votes[-1, 8] = 10  # last PrivateTest image: "unknown" majority, dropped by FERPlus
    csv = write_fer_csv(tmp_path / "fer.csv", labels, usages, images)
    assert main(["--csv", str(csv), "--votes", str(write_votes(tmp_path / "new.csv", usages, votes))]) == 0
    out = capsys.readouterr().out
    assert "| Training | 6 | 0.6667 |" in out and "| PublicTest | 4 | 1.0000 |" in out
    assert "| PrivateTest | 3 | 1.0000 |" in out


def test_default_data_is_found_in_the_working_folders_data(tmp_path, monkeypatch):
    """An installed fer-train has no checkout around it: ./data of the folder it runs in is searched,
    after $FER_DATA_DIR and before the checkout's own folders."""
    from fer_browser.training.datasets import find_default

    labels, usages, images = make_rows()
    (tmp_path / "data").mkdir()
    here = write_fer_csv(tmp_path / "data" / "fer2013.csv.gz", labels, usages, images, gz=True)
    monkeypatch.delenv("FER_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert find_default("fer2013.csv") == here.resolve()
    (tmp_path / "elsewhere").mkdir()
    first = write_fer_csv(tmp_path / "elsewhere" / "fer2013.csv", labels, usages, images)
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path / "elsewhere"))
    assert find_default("fer2013.csv") == first.resolve()
