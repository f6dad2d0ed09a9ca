"""Specification of training.data.PKSampler: P identities x K images per batch, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from training.data import PKSampler

# 10 identities with 2..11 images each, plus three identities with a single image (labels 90-92).
LABELS = np.concatenate([np.full(n, label) for label, n in enumerate(range(2, 12))] + [np.array([90, 91, 92])])
SINGLES = {90, 91, 92}


def test_every_batch_has_p_distinct_identities_with_k_images_each() -> None:
    sampler = PKSampler(LABELS, p=4, k=3, seed=0)
    for _ in range(50):
        index = sampler.batch()
        assert index.shape == (12,)
        labels = LABELS[index]
        # P blocks of K: each block is one identity, and the P identities are distinct.
        blocks = labels.reshape(4, 3)
        assert all(len(set(block)) == 1 for block in blocks.tolist())
        assert len(set(blocks[:, 0].tolist())) == 4


def test_identities_with_fewer_than_two_images_are_never_sampled() -> None:
    sampler = PKSampler(LABELS, p=8, k=2, seed=1)
    seen = set()
    for _ in range(200):
        seen |= set(LABELS[sampler.batch()].tolist())
    assert not seen & SINGLES
    assert seen == set(range(10))  # and every eligible identity does come up


def test_images_are_distinct_within_an_identity_when_it_has_enough() -> None:
    sampler = PKSampler(LABELS, p=3, k=4, seed=2)
    for _ in range(50):
        for block in sampler.batch().reshape(3, 4):
            if (LABELS == LABELS[block[0]]).sum() >= 4:
                assert len(set(block.tolist())) == 4


def test_small_identities_are_sampled_with_replacement_up_to_k() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    index = PKSampler(labels, p=3, k=4, seed=0).batch()
    assert index.shape == (12,)
    for block in index.reshape(3, 4):
        assert len(set(labels[block].tolist())) == 1 and len(set(block.tolist())) <= 2


def test_same_seed_same_batches_and_another_seed_differs() -> None:
    a, b, c = (PKSampler(LABELS, p=4, k=2, seed=s) for s in (7, 7, 8))
    batches_a = [a.batch() for _ in range(5)]
    batches_b = [b.batch() for _ in range(5)]
    batches_c = [c.batch() for _ in range(5)]
    assert all(np.array_equal(x, y) for x, y in zip(batches_a, batches_b))
    assert not all(np.array_equal(x, y) for x, y in zip(batches_a, batches_c))


def test_ranks_draw_different_batches() -> None:
    r0, r1 = PKSampler(LABELS, 4, 2, seed=0, rank=0), PKSampler(LABELS, 4, 2, seed=0, rank=1)
    assert not all(np.array_equal(r0.batch(), r1.batch()) for _ in range(5))


def test_state_and_restore_reproduce_the_next_batch() -> None:
    sampler = PKSampler(LABELS, p=4, k=2, seed=3)
    for _ in range(3):
        sampler.batch()
    state = sampler.state()
    expected = [sampler.batch() for _ in range(3)]
    fresh = PKSampler(LABELS, p=4, k=2, seed=99)  # a resumed run: built anew, then restored
    fresh.restore(state)
    assert all(np.array_equal(x, fresh.batch()) for x in expected)


def test_p_larger_than_the_eligible_identities_is_an_error() -> None:
    # 10 identities have 2+ images: P = 11 cannot be met (the single-image ones do not count).
    with pytest.raises(ValueError, match="P=11"):
        PKSampler(LABELS, p=11, k=2)
    PKSampler(LABELS, p=10, k=2)  # exactly enough is fine


@pytest.mark.parametrize(("p", "k"), [(1, 4), (4, 1), (0, 2)])
def test_p_or_k_below_two_is_an_error(p: int, k: int) -> None:
    with pytest.raises(ValueError, match="P >= 2"):
        PKSampler(LABELS, p=p, k=k)
