"""benchmarks/same_programs.py (the penalty programs' before/after proof) runs and tells
programs apart."""

from benchmarks.same_programs import program_hashes


def test_program_hashes_are_stable_and_tell_penalties_apart():
    first = program_hashes(n=10**4, layouts=("one",))
    again = program_hashes(n=10**4, layouts=("one",))
    assert first == again
    assert len(first) == 10  # 4 float32 penalties and bfloat16 l2, value and value+grad
    hashes = {v["sha256"] for v in first.values()}
    assert len(hashes) == len(first)
    assert all(v["ops"] > 0 for v in first.values())
