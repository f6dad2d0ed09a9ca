"""Acceptance test of the shipped model: enroll people, then recognise them and reject strangers.

Real photos, the real detector, the shipped weights, a real SQLite store, the app's own
pipeline and matching; the threshold is the model card's default (nothing hard-coded).
On LFW (where ../shared has it): LFW is never trained on, so these people are new to the
model; an untrained tower fails these assertions clearly, a model worth shipping passes them.
On the in-repo faces (everywhere): person E, enrolled from one clip, must be recognised in
the other, and the doorway people must stay unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from conftest import PERSON_E, RepoFaces
from faceapp.align import align_face
from faceapp.embed import load_encoder
from faceapp.images import list_images, load_image
from faceapp.match import identify_many
from faceapp.pipeline import Pipeline
from faceapp.storage import SqliteStore as Store

KNOWN_PEOPLE = 8  # the LFW View 1 people with the most photos here (>= 3 by peopleDevTest.txt)
ENROLL_PHOTOS = 2  # each enrolled from their first two photos; all their other photos are probes
STRANGERS = 12  # people never enrolled, one photo each
# The bars, set from measurements on these 38 probes and 12 strangers (rank-1 / named at the
# default threshold / wrong name / strangers unknown): an untrained tower 26% / 0% / 0% / 100%
# (at its own calibrated threshold); the collapsed epoch-1 provisional model 24% / 0% / 0% / 100%;
# training checkpoints after 2 epochs (LFW View 1 87%) 87% / 53% / 3% / 83%, after 4 epochs
# (89%) 84% / 66% / 5% / 92%, after 6 epochs (93%) 89% / 76% / 5% / 100%, after all 10
# (95%) 97% / 79% / 3% / 100%.
MIN_RANK1 = 0.75  # known people's other photos whose nearest template is their own
MIN_IDENTIFIED = 0.50  # ... named correctly at the default threshold (FAR 1e-3 is strict: not all pass)
MAX_MISIDENTIFIED = 0.10  # ... given someone else's name
MIN_UNKNOWN = 0.70  # strangers answered 'unknown'


@dataclass
class Outcome:
    """Per probe photo: (true name, the app's answer at the threshold or None, nearest enrolled
    name whatever the distance, distance to it)."""

    identified: list[tuple[str, str | None, str | None, float]] = field(default_factory=list)
    strangers: list[tuple[str, str | None, str | None, float]] = field(default_factory=list)

    @property
    def identified_rate(self) -> float:
        return sum(truth == answer for truth, answer, _, _ in self.identified) / len(self.identified)

    @property
    def rank1_rate(self) -> float:
        """Share of known people's photos whose nearest template is theirs (threshold aside)."""
        return sum(truth == nearest for truth, _, nearest, _ in self.identified) / len(self.identified)

    @property
    def misidentified_rate(self) -> float:
        return sum(answer not in (None, truth) for truth, answer, _, _ in self.identified) / len(self.identified)

    @property
    def unknown_rate(self) -> float:
        return sum(answer is None for _, answer, _, _ in self.strangers) / len(self.strangers)

    def summary(self) -> str:
        wrong = [f"{t}->{a} ({d:.3f})" for t, a, _, d in self.identified if t != a][:8]
        accepted = [f"{t}->{a} ({d:.3f})" for t, a, _, d in self.strangers if a is not None][:8]
        return (
            f"identified {self.identified_rate:.0%} of {len(self.identified)} (rank-1 {self.rank1_rate:.0%}, "
            f"wrong name {self.misidentified_rate:.0%}; "
            f"misses: {', '.join(wrong) or 'none'}); unknown {self.unknown_rate:.0%} of {len(self.strangers)} "
            f"strangers (accepted: {', '.join(accepted) or 'none'})"
        )


def choose_people(lfw_dir: Path) -> tuple[list[str], list[str]]:
    """The known people (most photos first, then by name) and the strangers (by name)."""
    rows = [line.split() for line in (lfw_dir / "peopleDevTest.txt").read_text().splitlines()[1:] if line.strip()]
    present = [(name, int(count)) for name, count in rows if (lfw_dir / name).is_dir()]
    photos = {name: len(list_images(lfw_dir / name)) for name, _ in present}
    eligible = [name for name, count in present if count >= 3 and photos[name] >= ENROLL_PHOTOS + 1]
    known = sorted(eligible, key=lambda name: (-photos[name], name))[:KNOWN_PEOPLE]
    strangers = sorted(name for name, _ in present if name not in known)[:STRANGERS]
    return known, strangers


def enroll_and_identify(pipeline: Pipeline, known: dict[str, list[Path]], strangers: dict[str, list[Path]],
                        db_path: Path) -> Outcome:
    """Enroll each known person from their first ENROLL_PHOTOS photos; then identify their other
    photos and every stranger's photos."""
    outcome = Outcome()
    with Store.open(db_path) as store:
        for name, photos in known.items():
            photos = photos[:ENROLL_PHOTOS]
            faces = [pipeline.encode_one(load_image(p), largest=True, label=str(p)) for p in photos]
            store.enroll(
                name.replace("_", " "),
                [f.encoding for f in faces],
                pipeline.model_id,
                sources=[str(p) for p in photos],
                qualities=[f.quality.value for f in faces],
            )
        gallery = store.gallery(pipeline.model_id)
        assert len(gallery) == len(known) * ENROLL_PHOTOS

        # Probes: each photo's face found and aligned as encode_one does, then all embedded in
        # one batch and matched with identify_many (the app's many-faces path), to keep this fast.
        probes = [(name, photo) for name, photos in known.items() for photo in photos[ENROLL_PHOTOS:]]
        probes += [(name, photo) for name, photos in strangers.items() for photo in photos]
        crops = []
        for _, photo in probes:
            image = load_image(photo)
            faces = pipeline.find_faces(image, still=True)
            assert faces, f"no face found in {photo}"
            crops.append(align_face(image, faces[0].landmarks))
        encodings = pipeline.encoder.embed(np.stack(crops))
        answers = identify_many(encodings, gallery, pipeline.encoder.card.default_threshold)
        nearest = identify_many(encodings, gallery, 2.0)  # unit vectors are never farther apart than 2
        for (name, _), answer, near in zip(probes, answers, nearest):
            row = (name.replace("_", " "), answer.name, near.name, answer.distance)
            (outcome.identified if name in known else outcome.strangers).append(row)
    return outcome


def test_enrolled_people_are_recognised_and_strangers_are_unknown(
    shipped_model_card: Path, yunet_detector, lfw_dir: Path, tmp_path: Path
) -> None:
    pipeline = Pipeline(yunet_detector, load_encoder(shipped_model_card, device="cpu"))
    known, strangers = choose_people(lfw_dir)
    outcome = enroll_and_identify(pipeline, {name: list_images(lfw_dir / name) for name in known},
                                  {name: list_images(lfw_dir / name)[:1] for name in strangers}, tmp_path / "faces.db")
    print(f"{pipeline.model_id} at threshold {pipeline.encoder.card.default_threshold}: {outcome.summary()}")
    assert len(outcome.identified) >= 30 and len(outcome.strangers) == STRANGERS
    assert outcome.rank1_rate >= MIN_RANK1, outcome.summary()
    assert outcome.identified_rate >= MIN_IDENTIFIED, outcome.summary()
    assert outcome.misidentified_rate <= MAX_MISIDENTIFIED, outcome.summary()
    assert outcome.unknown_rate >= MIN_UNKNOWN, outcome.summary()


def test_the_people_are_chosen_as_documented(lfw_dir: Path) -> None:
    known, strangers = choose_people(lfw_dir)
    assert len(known) == KNOWN_PEOPLE and len(strangers) == STRANGERS and not set(known) & set(strangers)
    assert all(len(list_images(lfw_dir / name)) > ENROLL_PHOTOS for name in known)


def test_person_e_is_recognised_across_clips_and_the_doorway_people_are_unknown(
    shipped_model_card: Path, yunet_detector, repo_faces: RepoFaces, tmp_path: Path
) -> None:
    # E is enrolled from his first photos of one clip; his other photos of it and all those of
    # the other clip are probes. The doorway people are only strangers: their small, turned
    # faces are not enrolled because the encoder does not tell them apart from each other.
    pipeline = Pipeline(yunet_detector, load_encoder(shipped_model_card, device="cpu"))
    known = {PERSON_E: list(repo_faces.e)}
    strangers = {name: list(photos) for name, photos in repo_faces.others.items()}
    outcome = enroll_and_identify(pipeline, known, strangers, tmp_path / "faces.db")
    print(f"{pipeline.model_id} at threshold {pipeline.encoder.card.default_threshold}: {outcome.summary()}")
    assert len(outcome.identified) == len(repo_faces.e) - ENROLL_PHOTOS
    assert len(outcome.strangers) == sum(len(photos) for photos in repo_faces.others.values())
    # With one person enrolled the nearest template is always theirs: rank-1 says nothing here.
    assert outcome.identified_rate >= MIN_IDENTIFIED, outcome.summary()
    assert outcome.misidentified_rate <= MAX_MISIDENTIFIED, outcome.summary()
    assert outcome.unknown_rate >= MIN_UNKNOWN, outcome.summary()
