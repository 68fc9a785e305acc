from __future__ import annotations

from handheld_client.debounce import Debouncer

A, B = "04006381333931", "00036000291452"


def test_code_in_consecutive_frames_is_one_scan() -> None:
    d = Debouncer()
    assert [d.feed(i * 0.1, [A]) for i in range(5)] == [[A], [], [], [], []]


def test_short_gap_does_not_rescan() -> None:
    d = Debouncer()
    assert d.feed(0.0, [A]) == [A]
    assert d.feed(0.1, []) == []
    assert d.feed(0.4, [A]) == []  # absent 0.4 s
    assert d.feed(0.8, [A]) == []  # absent 0.4 s again: still the same scan


def test_gap_of_half_a_second_rescans() -> None:
    d = Debouncer()
    assert d.feed(0.0, [A]) == [A]
    for i in range(1, 5):
        assert d.feed(i * 0.1, []) == []
    assert d.feed(5 * 0.1, [A]) == [A]  # float 0.5 exactly at the threshold
    assert d.feed(13 * 0.1, [A]) == [A]  # 1.3 - 0.5 = 0.8 s absent


def test_two_codes_interleaved() -> None:
    d = Debouncer()
    assert d.feed(0.0, [A]) == [A]
    assert d.feed(0.1, [A, B]) == [B]
    assert d.feed(0.2, [B]) == []
    assert d.feed(0.3, [B, A]) == []  # A absent only 0.2 s
    assert d.feed(0.9, [B, A]) == [B, A]  # both absent 0.6 s; order as given
    assert d.feed(1.0, [A, A, B]) == []


def test_time_going_back_starts_afresh() -> None:
    d = Debouncer()
    assert d.feed(10.0, [A]) == [A]
    assert d.feed(0.0, [A]) == [A]


def test_duplicates_in_one_frame_count_once() -> None:
    assert Debouncer().feed(0.0, [B, A, B]) == [B, A]
