"""The budget of one submission, apart from the sandbox so that the grader can use it without importing torch."""
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Budget:
    """
    What one submission may use in all.

    - seconds: time its worker may run, start-ups and every probe together.
    - probe_seconds: time one probe may take.
    - startup_seconds: time to start the worker and import the submission.
    - memory_bytes: resident memory of all its processes together (and the
      address space of each one).
    - processes: processes and threads at once (only enforced per slot when
      grading as root: elsewhere they count against the grader's own user).
    - disk_bytes: everything it writes (its home, copy of the submission and /tmp).
    """

    seconds: float = 600.0
    probe_seconds: float = 10.0
    startup_seconds: float = 30.0
    memory_bytes: int = 6 << 30
    processes: int = 64
    disk_bytes: int = 256 << 20

    def __post_init__(self):
        # One budget, one spelling: a grade's fingerprint holds the budget's repr, and 600 and 600.0 must not make
        # `course grade --time-budget 600` regrade a class graded with Budget(seconds=600).
        for f in fields(self):
            object.__setattr__(self, f.name, f.type(getattr(self, f.name)))


# Probes with a time of their own, not taken from the submission's budget: training a network the student designed
# takes longer than any check, and the budget is calibrated on the checks (the solution's time times a factor).
OWN_TIME_SECONDS = {"yourcnn_train": 240.0}
