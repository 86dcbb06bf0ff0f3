"""The one traversal of a block and the blocks nested in it for the passes that carry a state
from statement to statement (``map_blocks`` serves those that carry none).

A pass subclasses ``Flow`` and states only what differs: what a simple statement does
(``simple``), how the states at the ends of an ``if``'s arms meet (``join``), and, for loops,
either how two states meet at a loop's head (``merge``: the head's state is then a fixed
point) or what it does before a loop and at the end of its trip (``loop_head``,
``loop_tail``). The walk is:

* a block: its statements in order, or last first where ``backward`` (an analysis whose
  state flows against the code, such as liveness); each statement gives the statements that
  stand for it in the rebuilt block;
* ``if``: each arm from a copy of the state before it (``save``/``restore``), then ``join``;
* a loop: ``loop_head`` gives the state at its head, then one trip is walked from it, in walk
  order (the same in both directions): a ``while``'s test statements, then its body; a
  ``for``'s target bound (``trip_start``) at the start of the trip, or at its end where
  ``backward``. ``loop_tail`` ends the trip; after a ``while`` the state is the one after its
  test statements (where the loop leaves), after a ``for`` the one ``loop_tail`` leaves.

Users: forward mode's joins (ad/forward.py), simplify's liveness (optimize/simplify.py).
Reverse mode keeps its own sweeps: it joins no states (every adjoint a construct touches is
given its one name before it, ``materialize``), and each construct becomes another one (a
branch pops its test, a ``while`` is reversed as a ``for`` over its trip count), so the hooks
would be the whole of its code.
"""

from __future__ import annotations

import copy
import dataclasses

from . import For, If, While


class Flow:
    backward = False  # walk each block from its last statement to its first
    state = None  # what the pass knows at the current point (see save/restore)

    # --- what a pass states -----------------------------------------------------------------

    def simple(self, stmt) -> list:
        """The statements that stand for a non-compound ``stmt`` (the state updated)."""
        raise NotImplementedError

    def join(self, stmt, start, arms):
        """Set the state after the ``if`` ``stmt`` (before it, where ``backward``): ``start``
        is the state the arms were walked from, ``arms`` a (rebuilt block, state at its end)
        per arm; a block may be appended to."""
        raise NotImplementedError

    def merge(self, head, end):
        """The state at a loop's head, given the one there so far and the one at the end of a
        trip (for the default ``loop_head``: a fixed point)."""
        raise NotImplementedError

    def trip_start(self, stmt):
        """A ``for``'s target bound at the start of each trip (nothing by default)."""

    def save(self):
        return copy.copy(self.state)

    def restore(self, saved):
        self.state = copy.copy(saved)

    def loop_head(self, stmt):
        """Before the loop ``stmt``: set the state at its head, and return what ``loop_tail``
        gets. By default the fixed point of ``merge`` over trips walked from the head (their
        statements dropped), which is also the state after the loop."""
        head = self.save()
        while True:
            self.restore(head)
            self.trip(stmt)
            new = self.merge(head, self.save())
            if new == head:
                break
            head = new
        self.restore(head)
        return head

    def loop_tail(self, stmt, body, head):
        """At the end of the trip (``body``: the rebuilt body, may be appended to); ``head``:
        what ``loop_head`` returned. By default the state goes back to ``head``."""
        self.restore(head)

    # --- the walk ---------------------------------------------------------------------------

    def walk_block(self, stmts) -> list:
        """``stmts`` walked, rebuilt."""
        out = []
        for stmt in reversed(stmts) if self.backward else stmts:
            new = self.statement(stmt)
            out.extend(reversed(new) if self.backward else new)
        return out[::-1] if self.backward else out

    def statement(self, stmt) -> list:
        if isinstance(stmt, (If, For, While)):
            return [self.compound(stmt)]
        return self.simple(stmt)

    def compound(self, stmt):
        """An ``if`` or a loop walked, rebuilt."""
        if isinstance(stmt, If):
            return self.branch(stmt)
        return self.loop(stmt)

    def branch(self, stmt):
        start = self.save()
        arms = []
        for block in (stmt.body, stmt.orelse):
            self.restore(start)
            out = self.walk_block(block)
            arms.append((out, self.save()))
        self.restore(start)
        self.join(stmt, start, arms)
        return dataclasses.replace(stmt, body=arms[0][0], orelse=arms[1][0])

    def loop(self, stmt):
        head = self.loop_head(stmt)
        test_body, body, leave = self.trip(stmt)
        self.loop_tail(stmt, body, head)
        if isinstance(stmt, While):
            self.restore(leave)
            return dataclasses.replace(stmt, test_body=test_body, body=body)
        return dataclasses.replace(stmt, body=body)

    def trip(self, stmt):
        """One trip around the loop ``stmt`` from the current state, in walk order: the rebuilt
        test statements (a ``while``'s; else None), the rebuilt body, and the state after the
        test statements (where a ``while`` leaves)."""
        test_body = leave = None
        if isinstance(stmt, For) and not self.backward:
            self.trip_start(stmt)
        if isinstance(stmt, While):
            test_body = self.walk_block(stmt.test_body)
            leave = self.save()
        body = self.walk_block(stmt.body)
        if isinstance(stmt, For) and self.backward:
            self.trip_start(stmt)
        return test_body, body, leave
