"""ir.flow.Flow: the walk through ifs and loops, forward and backward, on hand-made IR."""

from s2sad.ir import COPY, Assign, Const, For, If, Return, Var, While
from s2sad.ir.flow import Flow


class Assigned(Flow):
    """Names that may be assigned before each point (forward, union at joins and loop heads);
    ``seen`` records the state each simple statement is reached with."""

    def __init__(self):
        self.state = set()
        self.seen = {}

    def simple(self, stmt):
        self.seen[id(stmt)] = set(self.state)
        if isinstance(stmt, Assign):
            self.state.add(stmt.target)
        return [stmt]

    def join(self, stmt, start, arms):
        self.state = arms[0][1] | arms[1][1]

    def merge(self, head, end):
        return head | end

    def trip_start(self, stmt):
        self.state.add(stmt.target)


def _set(name, value=1.0):
    return Assign(name, COPY, [Const(value)])


def test_forward_fixpoint_reaches_the_loop_head_from_the_trip_end():
    read_a = Assign("r", COPY, [Var("a")])
    loop = While([_set("t")], Var("t"), [read_a, If(Var("c"), [_set("a")], [_set("b")])])
    ret = Return([Var("a")])
    flow = Assigned()
    out = flow.walk_block([_set("c"), loop, ret])
    # a is assigned at the end of a trip: the next trip's first statement may see it
    assert flow.seen[id(read_a)] == {"a", "b", "c", "r", "t"}
    assert flow.seen[id(ret)] == {"a", "b", "c", "r", "t"}
    assert isinstance(out[1], While) and out[1] is not loop and len(out[1].body) == 2


def test_for_target_bound_at_the_start_of_each_trip():
    first = Assign("y", COPY, [Var("i")])
    flow = Assigned()
    flow.walk_block([For("i", Var("n"), [first])])
    assert flow.seen[id(first)] == {"i", "y"}
    assert flow.state == {"i", "y"}


class Live(Flow):
    """Liveness (backward, union), dropping assignments nothing reads."""

    backward = True

    def __init__(self, live=()):
        self.state = set(live)

    def simple(self, stmt):
        if isinstance(stmt, Assign):
            if stmt.target not in self.state:
                return []
            self.state.discard(stmt.target)
            self.state.update(a.name for a in stmt.args if isinstance(a, Var))
        return [stmt]

    def join(self, stmt, start, arms):
        self.state = arms[0][1] | arms[1][1] | {stmt.test.name}

    def merge(self, head, end):
        return head | end

    def trip_start(self, stmt):
        self.state.discard(stmt.target)


def test_backward_walk_keeps_what_a_later_trip_reads():
    carry = Assign("s", COPY, [Var("x")])  # read by the next trip's `x = s`
    dead = Assign("d", COPY, [Var("x")])
    body = [Assign("x", COPY, [Var("s")]), carry, dead]
    flow = Live({"x"})
    (loop,) = flow.walk_block([For("i", Var("n"), body)])
    assert loop.body == body[:2]
    assert flow.state == {"x", "s"}
