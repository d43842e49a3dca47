"""``write_under_locks``, the one plan → lock → re-check loop of every writer, on either database:
it writes the first plan that still holds under its locks and re-plans while plans move."""

import pytest
from django.db import transaction

from contacts.locking import MAX_LOCK_ROUNDS, LocksChanged, write_under_locks

pytestmark = pytest.mark.django_db


class Script:
    """Plans handed out in turn, and a write that refuses the plans it is told have moved."""

    def __init__(self, *, plans: list[str], moved: set[str]) -> None:
        self.plans = iter(plans)
        self.moved = moved
        self.read: list[str] = []
        self.written: list[str] = []

    def plan(self) -> str:
        current = next(self.plans)
        self.read.append(current)
        return current

    def write(self, plan: str) -> str | None:
        if plan in self.moved:
            return None
        self.written.append(plan)
        return f"wrote {plan}"


def run(script: Script, *, first: str | None = None) -> str:
    with transaction.atomic():
        return write_under_locks(
            plan=script.plan,
            locks_needed=lambda plan: (set(), set()),
            write=script.write,
            first=first,
        )


def test_a_first_plan_that_holds_is_written_without_another_read():
    script = Script(plans=[], moved=set())

    assert run(script, first="hint") == "wrote hint"
    assert script.read == []


def test_without_a_first_plan_the_loop_reads_one():
    script = Script(plans=["read"], moved=set())

    assert run(script) == "wrote read"
    assert script.read == ["read"]


def test_a_plan_that_moved_is_read_again_and_only_the_new_one_is_written():
    script = Script(plans=["second", "third"], moved={"hint", "second"})

    assert run(script, first="hint") == "wrote third"
    assert script.read == ["second", "third"]
    assert script.written == ["third"]


def test_plans_that_keep_moving_give_up_after_the_bounded_rounds():
    plans = [f"plan {round_}" for round_ in range(MAX_LOCK_ROUNDS + 1)]
    script = Script(plans=plans, moved=set(plans))

    with pytest.raises(LocksChanged):
        run(script)
    assert script.written == []
    assert len(script.read) == MAX_LOCK_ROUNDS
