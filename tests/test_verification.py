"""Specification of faceapp.verification: one live 1:1 rule for the GUI and the CLI, decided by
agreeing frames, with a lockout after repeated rejections. Time is a fake clock: no sleeping."""

from __future__ import annotations

import pytest

from faceapp.verification import VerifyDecider


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


T = 0.5  # a threshold; distances below are "same person" votes


def feed(decider: VerifyDecider, distances):
    outcome = None
    for d in distances:
        outcome = decider.add(d, T)
        if outcome is not None:
            return outcome
    return outcome


def test_verify_accepts_after_enough_consistent_frames() -> None:
    decider = VerifyDecider(window=7, needed=5, clock=Clock())
    assert decider.start("Alice", 1)
    assert feed(decider, [0.2, 0.3, 0.9, 0.1]) is None  # 3 yes, 1 no: undecided
    assert decider.progress() == (3, 5)
    outcome = feed(decider, [None, None, 0.25, 0.3])  # frames without a face do not count
    assert outcome is not None and outcome.accepted and outcome.consistent
    assert outcome.claim == "Alice" and outcome.person_id == 1
    assert outcome.distance == pytest.approx(0.25)  # median of the agreeing frames
    assert outcome.frames == 6 and outcome.decision == "accepted"
    assert not decider.active and decider.add(0.1, T) is None  # attempt over


def test_verify_rejects_and_locks_out_after_repeated_rejections() -> None:
    clock = Clock()
    decider = VerifyDecider(window=7, needed=5, max_rejections=3, lockout_s=30, clock=clock)
    for attempt in range(1, 4):
        assert decider.start("Alice", 1)
        outcome = feed(decider, [0.9] * 5)
        assert outcome is not None and not outcome.accepted
        if attempt < 3:
            assert outcome.lockout_s == 0 and decider.locked_for() == 0
    assert outcome.lockout_s == 30 and "locked out for 30 s" in outcome.decision
    assert decider.locked_for() == pytest.approx(30)
    assert not decider.start("Alice", 1)  # refused while locked
    clock.now += 29
    assert not decider.start("Alice", 1)
    clock.now += 1.5
    assert decider.locked_for() == 0 and decider.start("Alice", 1)


def test_verify_acceptance_resets_rejection_count() -> None:
    decider = VerifyDecider(window=3, needed=2, max_rejections=2, lockout_s=10, clock=Clock())
    decider.start("A", 1)
    assert not feed(decider, [0.9, 0.9]).accepted
    decider.start("A", 1)
    assert feed(decider, [0.1, 0.1]).accepted
    decider.start("A", 1)
    assert feed(decider, [0.9, 0.9]).lockout_s == 0  # only one rejection in a row


def test_verify_inconsistent_frames_end_as_rejection() -> None:
    decider = VerifyDecider(window=7, needed=5, max_frames=10, clock=Clock())
    decider.start("A", 1)
    outcome = feed(decider, [0.1, 0.9] * 10)
    assert outcome is not None and not outcome.accepted and not outcome.consistent
    assert outcome.frames == 10 and "inconsistent" in outcome.decision


def test_verify_needs_a_started_attempt_and_valid_parameters() -> None:
    decider = VerifyDecider()
    assert decider.add(0.1, T) is None
    with pytest.raises(ValueError):
        VerifyDecider(window=3, needed=4)
    decider.start("A", 1)
    decider.cancel()
    assert not decider.active and decider.claim is None


def test_concluding_early_rejects_as_inconsistent_with_the_frames_seen() -> None:
    decider = VerifyDecider(window=7, needed=5, clock=Clock())
    decider.start("Alice", 1)
    assert feed(decider, [0.2, 0.9, 0.3]) is None
    outcome = decider.conclude(T)  # the source ran out before five frames agreed
    assert outcome is not None and not outcome.accepted and not outcome.consistent
    assert outcome.frames == 3 and outcome.distance == pytest.approx(0.3)
    assert outcome.decision == "rejected (inconsistent frames)" and not decider.active
    decider.start("Alice", 1)
    assert decider.conclude(T) is None  # no face frame at all: nothing to decide


def test_new_settings_keep_a_lockout_in_force_and_the_rejections_so_far() -> None:
    clock = Clock()
    decider = VerifyDecider(window=7, needed=5, max_rejections=3, lockout_s=30, clock=clock)
    for _ in range(3):
        decider.start("Alice", 1)
        feed(decider, [0.9] * 5)
    assert decider.locked_for() == pytest.approx(30)
    changed = decider.reconfigured(window=5, needed=3, max_rejections=3, lockout_s=31)
    assert (changed.window, changed.needed, changed.lockout_s) == (5, 3, 31)
    assert changed.locked_for() == pytest.approx(30) and not changed.start("Alice", 1)  # still locked out

    clock.now += 31
    changed.start("Alice", 1)
    feed(changed, [0.9] * 3)
    assert changed.rejections == 1
    stricter = changed.reconfigured(window=5, needed=3, max_rejections=2, lockout_s=10)
    assert stricter.rejections == 1 and stricter.claimed_id is None  # the count carries over, no attempt does
    stricter.start("Alice", 1)
    assert stricter.claimed_id == 1
    assert feed(stricter, [0.9] * 3).lockout_s == 10  # the second rejection in a row locks
