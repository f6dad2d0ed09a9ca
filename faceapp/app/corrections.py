"""Corrections by hand, for both front ends: merging two entries of one person, moving a
template that was someone else's face to them, and saying a sighting was not the person it named. Each is planned first (names resolved, refusals
found) so a front end can say exactly what will change before anything does; the store then
makes it in one transaction and logs it as a 'correct' event."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FaceAppError, StoreError
from .database import Database


class CorrectionError(FaceAppError):
    """A correction that cannot be made as asked (one person named twice, say)."""


@dataclass(frozen=True)
class MergePlan:
    """Merge ``source`` into ``target``: their names as stored and their template counts."""

    source: str
    target: str
    source_templates: int
    target_templates: int

    def describe(self) -> str:
        """The direction, said in full, as the confirmation prompt and the log put it."""
        n = self.source_templates
        return (f"merge {self.source} into {self.target}: {self.source}'s {n} template{'s' if n != 1 else ''} "
                f"and events move to {self.target}, and {self.source} is removed")


@dataclass(frozen=True)
class MovePlan:
    """Move template ``template_id`` (from ``source_text``) of ``owner`` to ``other``."""

    owner: str
    template_id: int
    source_text: str
    other: str

    def describe(self) -> str:
        return f"move template {self.template_id} ({self.source_text}) from {self.owner} to {self.other}"


def plan_merge(db: Database, source: str, target: str) -> MergePlan:
    """Resolve both names; CorrectionError when they are one person, UnknownPersonError for
    a name nobody has."""
    a, b = db.person(source), db.person(target)
    if a.id == b.id:
        raise CorrectionError(f"{a.name} and {b.name} are one person already; nothing to merge")
    return MergePlan(a.name, b.name, a.templates, b.templates)


def merge_people(db: Database, plan: MergePlan) -> tuple[int, int]:
    """Make the merge; returns (templates moved, events moved)."""
    return db.store.merge_people(plan.source, plan.target)


def plan_move(db: Database, owner: str, template_id: int, other: str) -> MovePlan:
    """Resolve the names and the template (StoreError when it is not ``owner``'s)."""
    template = db.template(owner, template_id)
    owner_name, other_name = db.person(owner).name, db.person(other).name
    if owner_name == other_name:
        raise CorrectionError(f"template {template_id} is {owner_name}'s already")
    return MovePlan(owner_name, template.id, template.source or "source unknown", other_name)


def move_template(db: Database, plan: MovePlan) -> int:
    """Make the move; returns how many templates the owner has left."""
    return db.store.move_template(plan.owner, plan.template_id, plan.other)


def not_this_person(db: Database, event_id: int) -> str:
    """Correct one sighting (an identify event) that named the wrong person: it names nobody
    from then on, and a 'correct' event records the correction. Returns the name it had.
    CorrectionError for an event that is not there or did not name anyone. No template or
    remembered face is tied to a sighting today, so the gallery itself does not change."""
    try:
        return db.store.not_this_person(int(event_id))
    except StoreError as exc:
        raise CorrectionError(str(exc)) from None
