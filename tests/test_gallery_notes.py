"""The failure gallery's parts: notes kept in a run's results store, the clip tables and
thumbnails of ``viz.gallery``, and one synthetic frame rendered on its own."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from core_models import results
from core_models.synth.generate import render_clip, render_frame
from viz import gallery as vg


def clips() -> pd.DataFrame:
    rows = [("a", 0, 1, 0.9, 0.05, "1", "2"), ("b", 0, 2, 0.6, 0.30, "2", "1"),
            ("c", 1, 0, 0.8, 0.15, "1", "1"), ("d", 1, 1, 0.7, 0.70, "3", "2")]  # fmt: skip
    t = pd.DataFrame(rows, columns=["clip", "label", "pred", "confidence", "prob_true", "subject", "view"])
    t["label_name"] = t["label"].map({0: "reading", 1: "writing"})
    t["pred_name"] = t["pred"].map({0: "reading", 1: "writing", 2: "typing on a keyboard"})
    return t


def test_notes_are_kept_replaced_and_removed_per_clip_and_split(tmp_path):
    assert results.read_notes(tmp_path).empty
    results.write_note(tmp_path, "a", "occluded", "the book hides the hand")
    results.write_note(tmp_path, "b", "label noise")
    results.write_note(tmp_path, "a", "similar motion", "")  # replaces a's note
    results.write_note(tmp_path, "a", "other split", split="val")
    notes = results.read_notes(tmp_path)
    assert notes[["clip", "tag", "note"]].values.tolist() == [
        ["b", "label noise", ""],
        ["a", "similar motion", ""],
    ]
    assert results.read_notes(tmp_path, split="val")["tag"].tolist() == ["other split"]
    results.write_note(tmp_path, "b", "", "")  # an empty tag and note remove it
    assert results.read_notes(tmp_path)["clip"].tolist() == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".notes.parquet.lock",
        "notes.parquet",
    ]  # no temp files
    with pytest.raises(ValueError, match="at most"):
        results.write_note(tmp_path, "a", "x" * (results.MAX_TAG + 1))
    with pytest.raises(ValueError, match="clip"):
        results.write_note(tmp_path, " ", "tag")
    assert results.read_notes(tmp_path)["clip"].tolist() == ["a"]  # a refused note changes nothing


def test_notes_written_at_once_are_all_kept(tmp_path):
    threads = [
        threading.Thread(target=results.write_note, args=(tmp_path, f"clip{i}", "t")) for i in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.read_notes(tmp_path)["clip"]) == sorted(f"clip{i}" for i in range(12))


def test_a_notes_table_of_another_shape_is_refused(tmp_path):
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / results.NOTES_FILE)
    with pytest.raises(ValueError, match="expected the columns"):
        results.read_notes(tmp_path)


def test_select_clips_filters_and_sorts_with_notes():
    notes = pd.DataFrame([["test", "b", "occluded", "x", ""]], columns=results.NOTE_COLUMNS)
    t = vg.with_notes(clips(), notes)
    assert t["tag"].tolist() == ["", "occluded", "", ""] and t["note"].tolist() == ["", "x", "", ""]
    assert vg.select_clips(t)["clip"].tolist() == ["a", "c", "d", "b"]  # most confident first
    assert vg.select_clips(t, order="prob_true")["clip"].tolist() == ["a", "c", "b", "d"]
    assert vg.select_clips(t, order="clip")["clip"].tolist() == ["a", "b", "c", "d"]
    assert vg.select_clips(t, truth=0)["clip"].tolist() == ["a", "b"]
    assert vg.select_clips(t, truth=0, pred=2)["clip"].tolist() == ["b"]
    assert vg.select_clips(t, view=2, subject="1")["clip"].tolist() == ["a"]
    assert vg.select_clips(t, tag=vg.ANY_TAG)["clip"].tolist() == ["b"]
    assert vg.select_clips(t, tag=vg.UNTAGGED)["clip"].tolist() == ["a", "c", "d"]
    assert vg.select_clips(t, tag="occluded")["clip"].tolist() == ["b"]
    with pytest.raises(ValueError, match="order"):
        vg.select_clips(t, order="size")
    assert vg.page_of(t, 2, 3)["clip"].tolist() == ["d"] and vg.page_of(t, 9, 3)["clip"].tolist() == ["d"]


def test_mistakes_split_by_whether_the_true_attention_rescues_them():
    t = clips()  # a, b, c wrong; d right
    t["truth_pred"] = [0, 1, 0, 1]  # with the true attention: a and d right, b and c wrong still
    wrong = t[t.label != t.pred]
    assert vg.select_clips(wrong, lost_by="attention")["clip"].tolist() == ["a"]
    assert vg.select_clips(wrong, lost_by="features")["clip"].tolist() == ["c", "b"]
    assert vg.lost_by_sentence(wrong) == (
        "With the ground-truth attention in place of its own, 1 of these 3 mistakes come right (lost by "
        "where the attention went) and 2 stay wrong (lost by what the features carry)."
    )
    assert vg.lost_by_sentence(clips()[clips().label != clips().pred]) is None  # no truth pass
    with pytest.raises(ValueError, match="lost_by"):
        vg.select_clips(clips(), lost_by="attention")


def test_card_text_and_thumbnails():
    row = vg.with_notes(clips(), pd.DataFrame(columns=results.NOTE_COLUMNS)).iloc[1]
    head, numbers = vg.card_text(row)
    assert head == "reading → typing on a keyboard"  # full class names
    assert numbers == "confidence 0.60 · truth 0.30 · P002 · C001"
    assert vg.card_text(clips().iloc[3])[0] == "writing"
    frame = np.zeros((120, 160, 3), np.uint8)
    assert vg.thumbnail(frame, 80).shape == (60, 80, 3) and vg.blank(80).shape == (60, 80, 3)
    with pytest.raises(ValueError, match="uint8"):
        vg.thumbnail(frame.astype(float))


def test_one_rendered_frame_is_the_clips_frame_and_can_frame_the_person():
    name = "S001C002P003R001A011"  # reading
    clip = render_clip(name, size=(90, 120))
    start, end = clip.truth.interval
    np.testing.assert_array_equal(render_frame(name, size=(90, 120)), clip.frames[(start + end) // 2])
    person = render_frame(name, size=(120, 160), person=True)
    assert person.shape == (120, 160, 3) and person.dtype == np.uint8
    room = render_frame(name, size=(120, 160))
    assert not np.array_equal(person, room)  # a closer view
