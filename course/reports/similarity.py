"""
``course similarity``: how much code each pair of submissions shares, as an HTML report.

Every pair of submissions is compared on the release's ``hw/*.py`` modules
that students write (hw/policy.py's STUDENT_FILES), a file only with the file
of the same name, with copydetect's fingerprints
(https://github.com/blingenf/copydetect, with its defaults: every k-gram of
K = 25 characters is a fingerprint). Code is first tokenised by Pygments:
names become ``V``/``F``/``O``, strings ``S``, comments and white space go,
so renaming variables, reformatting, rewording comments or reordering
functions keeps the fingerprints of the copied passages. The written answers
(TEXT_FILES: ``answers.py``) are compared as text instead: each answer is a
string, which the tokeniser turns into one ``S``, so any two complete
answers.py would look alike and a copied answer would not show.

Code is compared twice: as written, and normalised (``normalise``, and the
comments of the section "Normalised code": docstrings, statements without effect and unused
assignments removed, each function's names numbered, imports first and
definitions in a canonical order, then ``ast.unparse``). A statement of junk
after every statement (``pass``, ``x = x``, an unused name, ``if False:``)
breaks every k-gram of the code as written, and a copy so disguised shares
a third of it; its normalised code is the original's. The higher of the two
counts. A module that is not Python (a syntax error) is compared as written
only, and a module without source (missing, only compiled ``.pyc``,
unreadable) is compared without; both are problems, listed in the report,
and a submission with no source at all is left out of the ranking rather
than ranked at 0 %.

The starter's code is excluded: a token (a character of the filtered code,
or of the text) that lies under any k-gram of the release's starter modules
(normalised, for the normalised code) is the starter's, every other token is
the student's own. Handing in the starter, keeping its docstrings and
scaffolding, or reordering its methods is never evidence.

The score of a pair (a, b), in [0, 1]:

- ``written = (fa, fb)``: fa is the share of a's own tokens, over all modules
  but the answers together, that lie under a k-gram b also has (copydetect's
  copied slices of a's files against b's, less the starter's tokens); fb the
  same for b. A side with fewer than MIN_OWN_TOKENS own tokens is divided by
  MIN_OWN_TOKENS, so two nearly untouched starters that share one idiom do not
  top the list; ``normalised``: the same of the normalised code;
  ``code``: whichever of the two has the higher mean;
- ``text = (fa, fb)``: the same for the written answers;
- ``score = max(mean(code), mean(text))``: copied code or copied answers. The
  mean of the two sides ranks a pair high only when the sharing goes both
  ways: a complete solution that contains a short one scores about half.

Similarity is evidence for a person to read, not proof: a scaffolded exercise
leads independent solutions to many of the same lines (two independent
solutions of this homework share 30 to 75 % of a module), and the report shows
the passages so that the reader can judge. It states how far apart copies and
independent solutions are on the tests' assets (COPIES_LOWEST,
INDEPENDENT_HIGHEST) and where the class's pairs lie.

copydetect compares one pair of files at a time, in Python (about 5 ms for
two solutions of layers.py; a class of 500 has 125,000 pairs: hours), so the
ranking is computed here for all pairs at once from the same fingerprints
(``_overlap_matrix``; the tests check it against copydetect's copied slices),
and copydetect's ``compare_files`` and ``highlight_overlap`` then mark the
passages of the pairs that the report shows (bench/similarity_speed.py
times it: most of the time goes to Pygments and copydetect's hashing, about
0.12 s per submission for the code as written and as much for the normalised
code; normalising takes 0.07 s: comparing the normalised code too nearly
doubles the time).
"""
import ast
import collections
import functools
import hashlib
import html
import io
import json
import random
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import get_token_coverage, highlight_overlap
from tqdm import tqdm

from course import ASSIGNMENT, REPO_ROOT
from course.grading.submissions import discover, stage, unique_students
from hw.policy import STUDENT_FILES

STARTER = REPO_ROOT / "release" / ASSIGNMENT / "hw"
TEXT_FILES = frozenset({"answers.py"})  # written answers: compared as text, not as tokens
# copydetect's noise threshold = its guarantee threshold (its defaults), so its winnowing window is 1: every
# k-gram is a fingerprint. A wider window would make the scores change from run to run: copydetect hashes
# k-grams with Python's hash(), whose seed changes with every process, and the window keeps the smallest.
K = 25
MIN_OWN_TOKENS = 300  # about 15 lines of code (or 4 of prose): a side that added less is divided by this
MAX_FILE_BYTES = 256 << 10  # the solution's largest module has 38 KiB; a larger file is compared up to this
PROGRESS_FROM = 50  # progress bars for this many submissions or more
# How far apart copies and independent solutions are, as tests/test_similarity.py measures them on its assets (it
# fails when these no longer hold, or are more than SEPARATION_SLACK from what it measures): copies of the
# instructor's solution disguised by renaming, reordering, comments and a junk statement after every statement
# score COPIES_LOWEST or more with it; independent solutions (tests/assets/similarity and the instructor's) score
# INDEPENDENT_HIGHEST or less with each other. The report states both.
COPIES_LOWEST = 0.99
INDEPENDENT_HIGHEST = 0.52
SEPARATION_SLACK = 0.03
DETAIL_THRESHOLD = 0.8  # pairs the report shows side by side: at least this score ...
DETAIL_TOP = 10  # ... or among the first this many ...
DETAIL_MAX = 50  # ... and at most this many
TABLE_ROWS = 500  # pairs the table lists
CONTEXT_LINES = 12  # unmatched lines kept around each highlighted passage


@dataclass(frozen=True)
class FileMatch:
    name: str  # "layers.py"
    fraction_a: float  # of a's own tokens in this file, the share under a k-gram b also has
    fraction_b: float
    tokens_a: int  # those tokens of a
    tokens_b: int
    normalised: bool = False  # counted in the normalised code (see normalise), not in the code as written


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    score: float  # max(mean(code), mean(text))
    code: tuple = (0.0, 0.0)  # of a's and of b's own code (all modules but TEXT_FILES), the share the other has:
    # as written or normalised, whichever has the higher mean
    text: tuple = (0.0, 0.0)  # the same for the written answers
    files: tuple = ()  # a FileMatch per module they share passages of, the most shared first
    written: tuple = (0.0, 0.0)  # ``code`` of the code as written
    normalised: tuple = (0.0, 0.0)  # ``code`` of the normalised code
    notes: tuple = ()  # modules compared without (no source) or only as written (not Python), one line each

    @property
    def view(self) -> str:
        """Which code ``code`` is: "normalised" or "written"."""
        return "normalised" if sum(self.normalised) > sum(self.written) else "written"


@dataclass
class _File:
    """One file's fingerprints as arrays: copydetect's dict of lists would take gigabytes for a class."""

    positions: np.ndarray  # starts of the k-grams not in the starter, in the filtered code, ascending
    hashes: np.ndarray  # their fingerprints
    own: int  # tokens (characters of the filtered code) under no k-gram of the starter
    starter: np.ndarray  # for each token, whether it lies under a k-gram of the starter


@dataclass
class _Submission:
    student: str
    folder: Path  # holds hw/
    files: dict = field(default_factory=dict)  # name -> _File, the code as written (the text of TEXT_FILES)
    normalised: dict = field(default_factory=dict)  # name -> _File, the normalised code (not of TEXT_FILES)
    unread: dict = field(default_factory=dict)  # name -> why there is no source to compare
    unparsed: dict = field(default_factory=dict)  # name -> why it has no normalised code (not a Python module)
    problems: list = field(default_factory=list)


# -- Fingerprints -------------------------------------------------------------


def fingerprint(text: str, name: str, boilerplate=frozenset(), exact_offsets=False) -> CodeFingerprint:
    """
    copydetect's fingerprint of one file (tokenised unless it is one of
    TEXT_FILES), less the k-grams in ``boilerplate``, and ``.starter``: which
    tokens of its filtered code lie under one of those k-grams.

    copydetect's own removal (``CodeFingerprint(boilerplate=...)``) calls
    ``np.intersect1d(..., assume_unique=True)`` on hashes that repeat whenever
    a k-gram occurs twice in a file; it then also drops every occurrence but
    the last of each repeated k-gram, boilerplate or not, which undercounts
    and under-highlights repetitive code. So the boilerplate is removed here,
    from the fingerprint's index, and copydetect's coverage recomputed.
    ``exact_offsets``: see ``_class_offsets_fixed``, for highlighting.
    """
    code = name not in TEXT_FILES
    # The lexer by name: by file name, Pygments would match the name against every lexer's patterns, 5 ms a file.
    fp = CodeFingerprint(name, K, 1, filter=code, language="python" if code else None, fp=io.StringIO(text))
    starter = [idx for h, idx in fp.hash_idx.items() if h in boilerplate]
    fp.starter = _windows(np.concatenate(starter) if starter else np.zeros(0, np.int64), len(fp.filtered_code))
    if boilerplate:
        kept = {h: idx for h, idx in fp.hash_idx.items() if h not in boilerplate}
        fp.hash_idx, fp.hashes = kept, set(kept)
        fp.token_coverage = get_token_coverage(kept, K, len(fp.filtered_code))
    if exact_offsets and len(fp.offsets):
        fp.offsets = _class_offsets_fixed(fp.filtered_code, fp.offsets)
    return fp


def _class_offsets_fixed(filtered: str, offsets: np.ndarray) -> np.ndarray:
    """
    copydetect's offsets (filtered position -> characters filtered out before
    it) with its class-name entries fixed, for highlighting.

    ``utils.filter_code`` records a class name's entry as ``len(name) - 1``
    instead of the characters filtered out so far (it adds them correctly to
    its running count), so a passage that begins at a class name was
    highlighted from near the top of the file. A class name is the only
    token whose ``O`` starts a position's entries; the next entry counts
    the name's ``len(name) - 1`` on top of the right value.
    """
    offsets = offsets.copy()
    for e in range(len(offsets) - 2, 0, -1):
        at = offsets[e, 0]
        if 0 <= at < len(filtered) and filtered[at] == "O" and offsets[e - 1, 0] != at:
            offsets[e, 1] = offsets[e + 1, 1] - offsets[e, 1]
    return offsets


def _windows(starts: np.ndarray, length: int) -> np.ndarray:
    """Which of ``length`` tokens lie under a k-gram that starts at one of ``starts``."""
    edges = np.zeros(length + 1, np.int64)
    np.add.at(edges, np.asarray(starts, np.int64), 1)
    np.add.at(edges, np.asarray(starts, np.int64) + K, -1)
    return np.cumsum(edges[:length]) > 0


def _arrays(fp: CodeFingerprint) -> _File:
    own = int(np.count_nonzero(~fp.starter)) if fp.hash_idx else 0
    if not fp.hash_idx:
        return _File(np.zeros(0, np.int64), np.zeros(0, np.int64), own, fp.starter)
    counts = np.fromiter((len(v) for v in fp.hash_idx.values()), np.int64, len(fp.hash_idx))
    hashes = np.repeat(np.fromiter(fp.hash_idx.keys(), np.int64, len(fp.hash_idx)), counts)
    positions = np.concatenate([np.asarray(v, np.int64) for v in fp.hash_idx.values()])
    order = np.argsort(positions)
    return _File(positions[order], hashes[order], own, fp.starter)


def module_names(starter: Path) -> list:
    """The modules compared: the starter's ``hw/*.py`` that students write (hw/policy.py's STUDENT_FILES)."""
    return sorted(p.name for p in Path(starter).glob("*.py") if p.name in STUDENT_FILES)


def starter_hashes(starter: Path | None, normalised: bool = False) -> frozenset:
    """
    Every k-gram of every starter module, as copydetect takes boilerplate (all
    k-grams of all its files); with ``normalised``, of the normalised code of
    each (TEXT_FILES excluded). Kept while the starter's files are unchanged.
    """
    paths = sorted(Path(starter).glob("*.py")) if starter else []
    return _starter_hashes(tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths), normalised)


@functools.lru_cache(maxsize=4)
def _starter_hashes(files: tuple, normalised: bool) -> frozenset:
    hashes = set()
    for path, _, _ in files:
        name = Path(path).name
        if normalised and name in TEXT_FILES:
            continue
        text = Path(path).read_text(encoding="utf-8")
        hashes |= fingerprint(normalise(text) if normalised else text, name).hashes
    return frozenset(hashes)


def _compiled(path: Path) -> list:
    """The compiled files of a module (``layers.pyc``, ``__pycache__/layers.*.pyc``) next to it, as hw/... names."""
    stem = path.name.removesuffix(".py")
    found = [p for p in (path.with_suffix(".pyc"), *path.parent.glob(f"__pycache__/{stem}.*.pyc")) if p.is_file()]
    return [f"hw/{p.relative_to(path.parent).as_posix()}" for p in found]


def read_code(path: Path, student: str, problems: list) -> str | None:
    """One file of a submission; what is wrong with it goes to ``problems``, and None when there is nothing to read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        compiled = _compiled(path)
        if compiled:
            problems.append(f"{student}: hw/{path.name} is missing, only its compiled code ({', '.join(compiled)}) "
                            "is there, which cannot be compared; compared without it")  # fmt: skip
        else:
            problems.append(f"{student}: hw/{path.name} is missing; compared without it")
        return None
    except OSError as exc:
        problems.append(f"{student}: hw/{path.name} cannot be read ({exc.strerror or exc}); compared without it")
        return None
    if len(data) > MAX_FILE_BYTES:
        problems.append(f"{student}: hw/{path.name} is larger than {MAX_FILE_BYTES >> 10} KiB; compared its beginning")
        data = data[:MAX_FILE_BYTES]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{student}: hw/{path.name} is not UTF-8 text (byte {exc.start}); compared with "
                        f"the undecodable bytes replaced")  # fmt: skip
        return data.decode("utf-8", errors="replace")


def _normalised_or_why(text: str) -> tuple:
    """(the normalised code, None), or (None, why the text is not a Python module)."""
    try:
        return normalise(text), None
    except SyntaxError as exc:
        return None, f"not valid Python (line {exc.lineno}: {exc.msg})"
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, f"cannot be parsed ({type(exc).__name__})"


def _fingerprint_all(submissions: dict, names: list, boilerplate: frozenset, normalised_boilerplate: frozenset,
                     progress: bool) -> list:  # fmt: skip
    """
    Each submission's fingerprints, of its code as written and of its
    normalised code, and its problems: a module with no source to read
    (missing, only compiled, unreadable) or one that is not a Python module
    (compared as written only).
    """
    found, done = [], {}  # identical files (an untouched module) are fingerprinted once
    bar = tqdm(submissions.items(), desc="fingerprints", unit="submission", file=sys.stderr, disable=not progress)
    for student, folder in bar:
        sub = _Submission(student, Path(folder))
        for name in names:
            path = sub.folder / "hw" / name
            text = read_code(path, student, sub.problems)
            if text is None:
                sub.unread[name] = "only compiled" if _compiled(path) else "unreadable" if path.exists() else "missing"
                continue
            key = (name, hashlib.sha256(text.encode()).digest())
            if key not in done:
                written = _arrays(fingerprint(text, name, boilerplate))
                if name in TEXT_FILES:
                    done[key] = written, None, None
                else:
                    code, why = _normalised_or_why(text)
                    done[key] = written, code and _arrays(fingerprint(code, name, normalised_boilerplate)), why
            sub.files[name], normalised, why = done[key]
            if normalised is not None:
                sub.normalised[name] = normalised
            elif why:
                sub.unparsed[name] = why
                sub.problems.append(f"{student}: hw/{name} is {why}: compared as written only, not normalised")
        found.append(sub)
    return found


# -- Normalised code ------------------------------------------------------------
#
# What a disguise changes and the program does not. Dolos (https://dolos.ugent.be) tokenises with tree-sitter and
# keeps only the syntax tree's node types (k-grams of 23 of them, a window of 17), so renaming cannot hide a copy,
# but inserted statements and reordered definitions are not undone: each junk statement adds node types that break
# the k-grams around it. JPlag 5 (https://github.com/jplag/JPlag, ``--normalize``) normalises the token sequence
# against statement insertion and reordering, removing statements without effect and putting independent statements
# in a canonical order through their dependence graph, for Java and C++ only: its Python module has no such
# normalisation. Here the module's syntax tree (Python's ``ast``) is normalised in JPlag's spirit, at the level of
# definitions, then unparsed and fingerprinted as the code as written is (copydetect's tokens: every name V, F or O,
# as in Dolos no name counts; keywords, operators, numbers and the names of modules and built-ins kept), so that both
# comparisons share the starter's exclusion, the ranking and the highlighting. On the tests' assets these tokens give
# disguised copies 100 % and independent solutions 52 % at most; Dolos's node types of the normalised tree, 23 at a
# time, would give 100 % and 36 %: either separates the two.
#
# - docstrings and every statement without effect go: ``pass``; an expression statement that calls nothing (names,
#   constants, attributes, subscripts, operators, containers of those, lambdas, and calls of the _PURE_BUILTINS,
#   such as len(x)); a call of print as a statement (output, not computation: ``print(end="")`` after every statement
#   would break every k-gram); an assignment of a value to itself (``x = x``, ``self.w = self.w``); an assertion of a true
#   constant; the statements after a return, raise, break or continue in the same block; the branch that a
#   constant condition never takes (``if False:``, ``while 0:``; ``if True:``'s body stays, unindented);
# - dead stores: an assignment (``=``, ``+=``, ``: T =``, ``del``) to a name that is never read: in a function, a
#   local that no expression of the function (nested ones included) reads; at the top level or in a class, a name
#   the module reads nowhere (as a name, an attribute, a keyword or an identifier-like string; dunders are kept;
#   a class's annotated fields too). Its value stays as an expression statement if it calls something. Repeated
#   until nothing more goes (a store that only fed a dead store is dead too);
# - rewrites that change no computation, undone in each function (_undo_rewrites): ``it = iter(xs)`` and
#   ``while True: try: x = next(it) except StopIteration: break`` are ``for x in xs``; ``acc = []`` and a loop that
#   only appends (under ``if``s) is a list comprehension; a variable assigned once and read once, later in the same
#   block, is replaced by its value (nested calls hoisted into temporaries, ``r = ...; return r``);
# - identity helpers: a function of the module that only returns one of its arguments (``def same(x): return x``,
#   or a lambda bound to a name) is called nowhere: each call becomes that argument, and the helper goes;
# - names: each function's arguments and local variables become v0, v1, ... in the order they first appear;
# - order: at the top level and in each class, the imports (sorted) come first, then the other statements as they
#   were, then the functions and classes sorted by their node types (names play no part in the order).
#
# Operators are taken as calling nothing (a tensor's ``+`` has no side effect). What is not undone: junk that does
# something (a call whose result is unused, a store into an object), arithmetic identities (``x = x + 0``), independent
# statements of a function swapped (JPlag's reordering), code moved between functions, inlined or outlined helpers,
# comprehensions other than a list's, loops rewritten in other ways.

_PURE_BUILTINS = frozenset({"abs", "bool", "callable", "float", "id", "int", "isinstance", "issubclass", "len", "max",
                            "min", "range", "round", "str", "type"})  # fmt: skip
_DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_FUNCTION = (ast.FunctionDef, ast.AsyncFunctionDef)
_JUMP = (ast.Return, ast.Raise, ast.Break, ast.Continue)
_NORMALISE_PASSES = 6  # dead stores that feed dead stores: one more level a pass
_MAX_REWRITES = 2000  # rewrites undone in one function: far more temporaries than any function of the homework has


def _pure(node, rebound) -> bool:
    """Whether evaluating an expression calls nothing (but the _PURE_BUILTINS not ``rebound``), awaits or yields."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Lambda):
            continue  # made, not run
        if isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
        if isinstance(n, ast.Call):
            if not (isinstance(n.func, ast.Name) and n.func.id in _PURE_BUILTINS and n.func.id not in rebound):
                return False
            stack += n.args + [k.value for k in n.keywords]
            continue
        stack.extend(ast.iter_child_nodes(n))
    return True


def _constant_truth(test):
    """True or False for a condition that is a constant (or ``not`` one), else None."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _constant_truth(test.operand)
        return None if inner is None else not inner
    return bool(test.value) if isinstance(test, ast.Constant) else None


def _target_names(targets) -> list | None:
    """The names ``targets`` assign when every target is a name (or a tuple, list or starred of names), else None."""
    names = []
    for target in targets:
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            inner = _target_names(target.elts)
            if inner is None:
                return None
            names += inner
        elif isinstance(target, ast.Starred):
            inner = _target_names([target.value])
            if inner is None:
                return None
            names += inner
        else:
            return None
    return names


def _own_nodes(scope):
    """The nodes of a function's or class's body, or a module's, not inside a nested function or class."""
    stack = list(scope.body) if not isinstance(scope, ast.Lambda) else [scope.body]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (*_DEFINITION, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
        else:
            stack.extend(node.decorator_list if not isinstance(node, ast.Lambda) else [])


class _Cleaner:
    """One pass of the removals (docstrings, statements without effect, dead stores) over a module."""

    def __init__(self, tree):
        self.changed = False  # whether a statement that read a name went: a store it read may be dead now
        # Names the module binds (a built-in of that name is not the built-in), and names it may read at its top
        # level or in a class: names, attributes, keywords and identifier-like strings (getattr, __all__).
        self.rebound, self.module_reads, statements = set(), set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (self.module_reads if isinstance(node.ctx, ast.Load) else self.rebound).add(node.id)
            elif isinstance(node, ast.Attribute):
                self.module_reads.add(node.attr)
            elif isinstance(node, ast.Expr):
                statements.add(id(node.value))
            elif isinstance(node, ast.Constant):
                if isinstance(node.value, str) and id(node) not in statements and node.value.isidentifier():
                    self.module_reads.add(node.value)
            elif isinstance(node, ast.keyword) and node.arg:
                self.module_reads.add(node.arg)
            elif isinstance(node, ast.arg):
                self.rebound.add(node.arg)
            elif isinstance(node, _DEFINITION):
                self.rebound.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self.rebound.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                self.module_reads.update(node.names)  # a function that declares a name global may read it
        tree.body = self.block(tree.body, self.dead_at_top(tree), top=True)

    def dead_at_top(self, scope) -> set:
        """Names a module or class body assigns that the module never reads (dunders and annotated fields kept)."""
        stored = set()
        for node in _own_nodes(scope):
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                stored |= set(_target_names(node.targets if isinstance(node, ast.Assign) else [node.target]) or ())
        return {name for name in stored - self.module_reads if not name.startswith("__")}

    @staticmethod
    def dead_in_function(function) -> set:
        """A function's locals that nothing in it (nested functions included) reads; its arguments are kept."""
        stored, declared = set(), set()
        for node in _own_nodes(function):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                stored.add(node.id)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                declared.update(node.names)
        reads = set()
        for node in ast.walk(function):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                reads.add(node.id)
            elif isinstance(node, ast.Nonlocal):  # a nested function's nonlocal is this function's name, read there
                reads.update(node.names)
        return stored - declared - reads

    def block(self, body, dead, top=False) -> list:
        out = []
        for at, statement in enumerate(body):
            kept = self.statement(statement, dead, top)
            if kept != [statement] and not self.changed:
                self.changed = any(isinstance(n, ast.Name) for n in ast.walk(statement))
            out += kept
            if out and isinstance(out[-1], _JUMP):
                self.changed = self.changed or any(isinstance(n, ast.Name) for s in body[at + 1 :] for n in ast.walk(s))
                break  # what follows never runs
        return out

    def body(self, body, dead, top=False) -> list:
        """A block that must hold a statement: ``pass`` when everything in it went."""
        return self.block(body, dead, top) or [ast.Pass()]

    def prints(self, value) -> bool:
        """A call of the built-in print: output, not computation (print(end="") after every statement is junk)."""
        return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "print" \
            and "print" not in self.rebound  # fmt: skip

    def dropped_store(self, value) -> list:
        return [] if value is None or _pure(value, self.rebound) else [ast.Expr(value)]

    def statement(self, s, dead, top) -> list:
        pure = functools.partial(_pure, rebound=self.rebound)
        if isinstance(s, ast.Pass):
            return []
        if isinstance(s, ast.Expr):
            return [] if pure(s.value) or self.prints(s.value) else [s]
        if isinstance(s, ast.Assign):
            value = ast.dump(s.value)
            if pure(s.value) and all(ast.dump(t).replace("Store()", "Load()") == value for t in s.targets):
                return []  # x = x
            names = _target_names(s.targets)
            if names is not None and names and set(names) <= dead:
                return self.dropped_store(s.value)
            return [s]
        if isinstance(s, ast.AugAssign):
            if isinstance(s.target, ast.Name) and s.target.id in dead:
                return self.dropped_store(s.value)
            return [s]
        if isinstance(s, ast.AnnAssign):
            if not top and isinstance(s.target, ast.Name) and s.target.id in dead:
                return self.dropped_store(s.value)
            return [s]
        if isinstance(s, ast.Delete):
            names = _target_names(s.targets)
            return [] if names and set(names) <= dead else [s]
        if isinstance(s, ast.Assert):
            return [] if _constant_truth(s.test) else [s]
        if isinstance(s, ast.If):
            truth = _constant_truth(s.test)
            if truth is not None:
                return self.block(s.body if truth else s.orelse, dead, top)
            s.body, s.orelse = self.block(s.body, dead, top), self.block(s.orelse, dead, top)
            if not s.body and not s.orelse:
                return [] if pure(s.test) else [ast.Expr(s.test)]
            s.body = s.body or [ast.Pass()]
            return [s]
        if isinstance(s, ast.While):
            if _constant_truth(s.test) is False:
                return self.block(s.orelse, dead, top)
            s.body, s.orelse = self.body(s.body, dead, top), self.block(s.orelse, dead, top)
            return [s]
        if isinstance(s, (ast.For, ast.AsyncFor)):
            s.body, s.orelse = self.body(s.body, dead, top), self.block(s.orelse, dead, top)
            return [s]
        if isinstance(s, (ast.With, ast.AsyncWith)):
            s.body = self.body(s.body, dead, top)
            return [s]
        if isinstance(s, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            s.body = self.body(s.body, dead, top)
            for handler in s.handlers:
                handler.body = self.body(handler.body, dead, top)
            s.orelse, s.finalbody = self.block(s.orelse, dead, top), self.block(s.finalbody, dead, top)
            return [s]
        if isinstance(s, ast.Match):
            for case in s.cases:
                case.body = self.body(case.body, dead, top)
            return [s]
        if isinstance(s, _FUNCTION):
            s.body = self.body(s.body, self.dead_in_function(s))
            return [s]
        if isinstance(s, ast.ClassDef):
            s.body = self.body(s.body, self.dead_at_top(s), top=True)
            return [s]
        return [s]


def _blocks(function):
    """The statement lists of a function: its body and the blocks nested in it, not those of nested definitions."""
    stack = [function.body]
    while stack:
        block = stack.pop()
        yield block
        for statement in block:
            if isinstance(statement, _DEFINITION):
                continue
            for name in ("body", "orelse", "finalbody"):
                inner = getattr(statement, name, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    stack.append(inner)
            stack += [handler.body for handler in getattr(statement, "handlers", [])]
            stack += [case.body for case in getattr(statement, "cases", [])]


def _name_counts(function):
    """(loads, stores) of each name in a function, nested code included; a global or nonlocal name is never one."""
    loads, stores = collections.Counter(), collections.Counter()
    for node in ast.walk(function):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else stores)[node.id] += 1
        elif isinstance(node, ast.arg):
            stores[node.arg] += 1
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            stores.update({name: 2 for name in node.names})
    return loads, stores


def _own_loads(statement, name) -> list:
    """The loads of ``name`` in a statement, outside the definitions and lambdas nested in it."""
    found, stack = [], [statement]
    while stack:
        node = stack.pop()
        if node is not statement and isinstance(node, (*_DEFINITION, ast.Lambda)):
            continue
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


class _Substitute(ast.NodeTransformer):
    """Puts ``value`` where ``target`` (one Name node) was."""

    def __init__(self, target, value):
        self.target, self.value = target, value

    def visit_Name(self, node):
        return self.value if node is self.target else node


def _single_name(statement):
    """The name an assignment of one name to one value binds (``x = ...``), else None."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
        return statement.targets[0].id
    return None


def _for_loops(block, loads):
    """``it = iter(xs)`` and ``while True: try: x = next(it) except StopIteration: break ...`` become ``for x in xs:``."""
    for i, loop in enumerate(block):
        if not (isinstance(loop, ast.While) and _constant_truth(loop.test) is True and not loop.orelse
                and isinstance(loop.body[0], ast.Try)):  # fmt: skip
            continue
        fetch = loop.body[0]
        handler = fetch.handlers[0] if len(fetch.handlers) == 1 else None
        step = fetch.body[0] if len(fetch.body) == 1 else None
        if not (step is not None and isinstance(step, ast.Assign) and len(step.targets) == 1
                and isinstance(step.value, ast.Call) and isinstance(step.value.func, ast.Name)
                and step.value.func.id == "next" and len(step.value.args) == 1 and not step.value.keywords
                and isinstance(step.value.args[0], ast.Name) and handler is not None
                and isinstance(handler.type, ast.Name) and handler.type.id == "StopIteration"
                and len(handler.body) == 1 and isinstance(handler.body[0], ast.Break)
                and not fetch.orelse and not fetch.finalbody):  # fmt: skip
            continue
        iterator = step.value.args[0]
        source = next((k for k in range(i - 1, -1, -1) if _single_name(block[k]) == iterator.id), None)
        made = block[source].value if source is not None else None
        by_iter = isinstance(made, ast.Call) and isinstance(made.func, ast.Name) and made.func.id == "iter" \
            and len(made.args) == 1 and not made.keywords and loads[iterator.id] == 1  # fmt: skip
        block[i] = ast.copy_location(
            ast.For(step.targets[0], made.args[0] if by_iter else iterator, loop.body[1:] or [ast.Pass()], []), loop)
        if by_iter:
            del block[source]
        return True
    return False


def _comprehensions(block):
    """``acc = []`` then ``for x in xs: [if c:] acc.append(e)`` becomes ``acc = [e for x in xs if c]``."""
    for i in range(len(block) - 1):
        start, loop = block[i], block[i + 1]
        name = _single_name(start)
        if not (name and isinstance(start.value, ast.List) and not start.value.elts and isinstance(loop, ast.For)
                and not loop.orelse and len(loop.body) == 1):  # fmt: skip
            continue
        inner, conditions = loop.body[0], []
        while isinstance(inner, ast.If) and not inner.orelse and len(inner.body) == 1:
            conditions.append(inner.test)
            inner = inner.body[0]
        call = inner.value if isinstance(inner, ast.Expr) else None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "append" \
                and isinstance(call.func.value, ast.Name) and call.func.value.id == name and len(call.args) == 1 \
                and not call.keywords:  # fmt: skip
            comprehension = ast.ListComp(call.args[0], [ast.comprehension(loop.target, loop.iter, conditions, 0)])
            start.value = ast.copy_location(comprehension, start.value)
            del block[i + 1]
            return True
    return False


def _inline_one(block, loads, stores):
    """A name assigned once and read once, later in the same block, is replaced by its value (one at a time)."""
    for i, statement in enumerate(block):
        name = _single_name(statement)
        if name is None or loads[name] != 1 or stores[name] != 1:
            continue
        read = {n.id for n in ast.walk(statement.value) if isinstance(n, ast.Name)}
        for later in block[i + 1 :]:
            uses = _own_loads(later, name)
            if uses:
                _Substitute(uses[0], statement.value).visit(later)
                del block[i]
                return True
            if any(isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load) and n.id in read for n in ast.walk(later)):
                break  # what the value reads changes before its use
    return False


def _undo_rewrites(function):
    """
    Rewrites that change no computation, undone (one at a time until none is left, at most _MAX_REWRITES):
    ``while True`` over ``next()`` as the ``for`` loop it is, an append loop as the list comprehension it is, and
    temporaries read once inlined (a copy whose every nested call was hoisted into a variable of its own).
    """
    for _ in range(_MAX_REWRITES):
        loads, stores = _name_counts(function)
        blocks = list(_blocks(function))
        if not any(_for_loops(b, loads) or _comprehensions(b) or _inline_one(b, loads, stores) for b in blocks):
            return


def _identity_helpers(tree) -> dict:
    """{name: index of the argument it returns} of the module's functions (and named lambdas) that return an argument."""
    helpers = {}
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef) and not statement.decorator_list:
            function = statement
            body = [s for s in statement.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            returned = body[0].value if len(body) == 1 and isinstance(body[0], ast.Return) else None
        elif isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name) \
                and isinstance(statement.value, ast.Lambda):  # fmt: skip
            function, returned = statement.value, statement.value.body
        else:
            continue
        names = [a.arg for a in function.args.posonlyargs + function.args.args]
        name = statement.name if isinstance(statement, ast.FunctionDef) else statement.targets[0].id
        if isinstance(returned, ast.Name) and returned.id in names and not (function.args.vararg or function.args.kwonlyargs):
            helpers[name] = names.index(returned.id)
    return helpers


class _InlineIdentities(ast.NodeTransformer):
    """Each call of an identity helper, with its argument given by position and nothing else, becomes that argument."""

    def __init__(self, helpers):
        self.helpers = helpers

    def visit_Call(self, node):
        self.generic_visit(node)
        index = self.helpers.get(node.func.id) if isinstance(node.func, ast.Name) else None
        if index is not None and not node.keywords and index < len(node.args) \
                and not any(isinstance(a, ast.Starred) for a in node.args):  # fmt: skip
            return node.args[index]
        return node


def _inline_identities(tree):
    """Identity helpers called nowhere (see the comments above); the helpers no call is left to go."""
    helpers = _identity_helpers(tree)
    if not helpers:
        return
    _InlineIdentities(helpers).visit(tree)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    tree.body = [s for s in tree.body if not (
        (isinstance(s, ast.FunctionDef) and s.name in helpers and s.name not in used)
        or (isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name) and s.targets[0].id in helpers
            and s.targets[0].id not in used))]  # fmt: skip


def _assigned_names(function) -> set:
    """The arguments and the names a function (nested ones included) assigns, less its global and nonlocal ones."""
    names, declared = set(), set()
    for node in ast.walk(function):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
    return names - declared


def _rename_locals(function):
    """A function's arguments and locals (nested functions' included) become v0, v1, ... in order of appearance."""
    local = _assigned_names(function)
    mapping = {}

    def visit(node):
        if isinstance(node, ast.arg) and node.arg in local:
            node.arg = mapping.setdefault(node.arg, f"v{len(mapping)}")
        elif isinstance(node, ast.Name) and node.id in local:
            node.id = mapping.setdefault(node.id, f"v{len(mapping)}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(function.args)  # the arguments first, then the body in order
    for statement in function.body:
        visit(statement)


def _shape(node) -> str:
    """A definition's node types in order, with no name: what it is sorted by."""
    return " ".join(type(n).__name__ for n in ast.walk(node))


def _canonical(scope):
    """Renames each function's locals; puts imports first (sorted), definitions last (by their shape)."""
    for statement in scope.body:
        if isinstance(statement, _FUNCTION):
            _rename_locals(statement)
        elif isinstance(statement, ast.ClassDef):
            _canonical(statement)
    imports = sorted((s for s in scope.body if isinstance(s, (ast.Import, ast.ImportFrom))), key=ast.unparse)
    others = [s for s in scope.body if not isinstance(s, (ast.Import, ast.ImportFrom, *_DEFINITION))]
    definitions = [(_shape(s), s) for s in scope.body if isinstance(s, _DEFINITION)]
    tied = collections.Counter(shape for shape, _ in definitions)
    # Two definitions of the same shape (``return []``) in the order of what differs: names, constants.
    definitions.sort(key=lambda item: (item[0], ast.dump(item[1]) if tied[item[0]] > 1 else ""))
    definitions = [s for _, s in definitions]
    scope.body = imports + others + definitions


def normalise(source: str) -> str:
    """
    The module's code with what a disguise changes normalised away (see the
    comments above), as Python source (``ast.unparse``). Raises SyntaxError
    (or ValueError, RecursionError) for a file that is not a Python module.
    """
    tree = ast.parse(source)
    for _ in range(_NORMALISE_PASSES):
        if not _Cleaner(tree).changed:
            break
    for function in [n for n in ast.walk(tree) if isinstance(n, _FUNCTION)]:
        _undo_rewrites(function)
    _inline_identities(tree)
    _canonical(tree)
    return ast.unparse(tree) + "\n"


# -- All pairs ----------------------------------------------------------------


def _shifted(rows: np.ndarray, by: int) -> np.ndarray:
    """rows moved down by ``by`` (out[q] = rows[q - by]), zeros above."""
    out = np.zeros_like(rows)
    if by < len(rows):
        out[by:] = rows[: len(rows) - by]
    return out


def _window_or(rows: np.ndarray, width: int) -> np.ndarray:
    """out[q] = rows[q - width + 1] | ... | rows[q], by doubling: log(width) passes."""
    out, done, span, power = None, 0, 1, rows
    while width:
        if width & 1:
            part = _shifted(power, done)
            out = part if out is None else out | part
            done += span
        width >>= 1
        if width:
            power, span = power | _shifted(power, span), 2 * span
    return out


def _overlap_matrix(files: list) -> np.ndarray:
    """
    ``overlap[i, j]``: how many of file i's own tokens (under no k-gram of the
    starter) lie under a k-gram that file j also has, for every pair at once
    (``files[i]`` None: no such file).

    That is copydetect's ``compare_files(i, j)`` (the union of the windows
    [p, p + K) of the positions p of i whose k-gram j also has), less the
    starter's tokens. Here each token of i gets one bit per other file, set
    where that file has a k-gram whose window holds the token (bit rows,
    OR-ed over a sliding window of K rows), and the bits are counted.
    """
    n = len(files)
    overlap = np.zeros((n, n), np.int64)
    present = [i for i, f in enumerate(files) if f is not None and len(f.hashes)]
    if len(present) < 2:
        return overlap
    # Which files hold each k-gram, one bit per file (np.packbits' order), for the k-grams that two files
    # or more hold: one that a single file holds matches nothing.
    distinct = {i: np.unique(files[i].hashes) for i in present}
    every, holders = np.unique(np.concatenate(list(distinct.values())), return_counts=True)
    shared = every[holders > 1]
    if not len(shared):
        return overlap
    bits = np.zeros((len(shared), (n + 7) // 8), np.uint8)

    def rows(hashes):  # each hash's row of bits, or -1
        at = np.minimum(np.searchsorted(shared, hashes), len(shared) - 1)
        return np.where(shared[at] == hashes, at, -1)

    for i in present:
        row = rows(distinct[i])
        bits[row[row >= 0], i >> 3] |= np.uint8(0x80 >> (i & 7))
    for i in present:
        row = rows(files[i].hashes)
        found = row >= 0
        if not found.any():
            continue
        starts = np.zeros((len(files[i].starter), bits.shape[1]), np.uint8)  # starts[p]: who has the k-gram at p
        starts[files[i].positions[found]] = bits[row[found]]
        starts[:, i >> 3] &= np.uint8(~(0x80 >> (i & 7)) & 0xFF)
        covered = _window_or(starts, K)[~files[i].starter]  # covered[q]: who has a k-gram over own token q
        overlap[i] = np.unpackbits(covered, axis=1, count=n).sum(axis=0, dtype=np.int64)
    return overlap


def compare(submissions: dict, starter: Path | None = STARTER, names=None, problems=None, progress=None) -> list:
    """
    Every pair of ``submissions`` ({student: folder that holds hw/}), the most similar first.

    Compares the starter's ``hw/*.py`` modules (or ``names``), less the
    starter's code (``starter=None``: nothing excluded, then ``names`` is
    needed). A file that is missing, unreadable or not UTF-8 goes to
    ``problems`` (a list), and its submission is compared without it (with
    the undecodable bytes replaced). Progress bars (stderr) by default from
    PROGRESS_FROM submissions.
    """
    if names is None and starter is None:
        raise ValueError("compare needs the starter or the names of the modules to compare")
    if starter is not None and not Path(starter).is_dir():
        raise FileNotFoundError(f"{starter}: no starter code (`course release` builds it)")
    names = sorted(names) if names is not None else module_names(starter)
    progress = len(submissions) >= PROGRESS_FROM if progress is None else progress
    subs = _fingerprint_all(submissions, names, starter_hashes(starter), starter_hashes(starter, normalised=True),
                            progress)  # fmt: skip
    for sub in subs:
        if not sub.files:
            sub.problems.append(f"{sub.student}: left out of the ranking: no source of any module compared "
                                f"({', '.join(f'hw/{name}' for name in names)})")  # fmt: skip
    if problems is not None:
        problems.extend(line for sub in subs for line in sub.problems)
    subs = [sub for sub in subs if sub.files]
    n = len(subs)
    is_text = np.array([name in TEXT_FILES for name in names], bool)

    def overlaps(view):  # overlap[f, i, j]: of i's own tokens in module f, how many j also has; own[f, i]: all
        overlap, own = np.zeros((len(names), n, n), np.int64), np.zeros((len(names), n), np.int64)
        for f, name in enumerate(tqdm(names, desc=f"comparing ({view})", unit="module", file=sys.stderr,
                                      disable=not progress)):  # fmt: skip
            if view == "normalised" and is_text[f]:
                continue
            files = [getattr(sub, "files" if view == "written" else "normalised").get(name) for sub in subs]
            overlap[f] = _overlap_matrix(files)
            own[f] = [file.own if file is not None else 0 for file in files]
        return overlap, own

    def fractions(overlap, own, kind):  # fractions[i, j]: of i's own tokens of this kind, the share j also has
        return overlap[kind].sum(axis=0) / np.maximum(own[kind].sum(axis=0), MIN_OWN_TOKENS)[:, None]

    written, normal = overlaps("written"), overlaps("normalised")
    code_w, text, code_n = fractions(*written, ~is_text), fractions(*written, is_text), fractions(*normal, ~is_text)
    a, b = np.triu_indices(n, 1)
    score_w, score_n, text_score = (code_w[a, b] + code_w[b, a]) / 2, (code_n[a, b] + code_n[b, a]) / 2, \
        (text[a, b] + text[b, a]) / 2  # fmt: skip
    code_score = np.maximum(score_w, score_n)
    scores = np.maximum(code_score, text_score)
    shares = [overlap / np.maximum(own, 1)[:, :, None] for overlap, own in (written, normal)]  # share[f, i, j]
    lacking = [{name: f"{sub.student}'s hw/{name}: {why}, compared without it" for name, why in sub.unread.items()}
               for sub in subs]  # fmt: skip
    unparsed = [{name: f"{sub.student}'s hw/{name}: {why}, compared as written only"
                 for name, why in sub.unparsed.items()} for sub in subs]  # fmt: skip
    pairs = []
    # The most similar first; at the same score (identical answers), the one sharing more of the other kind.
    for index in np.lexsort((b, a, -(code_score + text_score), -scores)):
        i, j = int(a[index]), int(b[index])
        view = 1 if score_n[index] > score_w[index] else 0  # the code as written, unless normalised shares more
        matches = []
        for f in range(len(names)):
            overlap, share = (written if is_text[f] else (written, normal)[view])[0], shares[0 if is_text[f] else view]
            if overlap[f, i, j] + overlap[f, j, i]:
                matches.append(FileMatch(names[f], float(share[f, i, j]), float(share[f, j, i]), int(overlap[f, i, j]),
                                         int(overlap[f, j, i]), bool(view and not is_text[f])))  # fmt: skip
        matches.sort(key=lambda m: -(m.tokens_a + m.tokens_b))
        notes = ()
        if lacking[i] or lacking[j] or unparsed[i] or unparsed[j]:
            notes = tuple(
                [line for s, o in ((i, j), (j, i)) for name, line in lacking[s].items() if name in subs[o].files]
                + [line for s, o in ((i, j), (j, i)) for name, line in unparsed[s].items()
                   if name in subs[o].normalised]  # fmt: skip
            )
        code = (code_w, code_n)[view]
        pairs.append(Pair(subs[i].student, subs[j].student, float(scores[index]),
                          (float(code[i, j]), float(code[j, i])), (float(text[i, j]), float(text[j, i])),
                          tuple(matches), (float(code_w[i, j]), float(code_w[j, i])),
                          (float(code_n[i, j]), float(code_n[j, i])), notes))  # fmt: skip
    return pairs


# -- The report ---------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { margin-bottom: .2em; }
.note { background: #fff8e1; border-left: 4px solid #e0a000; padding: .5em 1em; max-width: 60em; }
.problems { color: #8a1c1c; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: .2em .6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.shown td:first-child { font-weight: bold; }
section.pair { border-top: 2px solid #888; margin-top: 2em; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.side h4 { margin: .3em 0; }
pre { background: #f6f6f6; padding: .5em; overflow: auto; max-height: 45em; font-size: 82%; margin: 0; }
mark { background: #ffd58a; }
summary { cursor: pointer; font-weight: bold; margin: .5em 0; }
"""


def _percent(x: float) -> str:
    return f"{100 * x:.0f} %"


def _sides(pair: Pair, kind: str) -> str:
    a, b = getattr(pair, kind)
    return f"{_percent(a)} / {_percent(b)}" if a or b else ""


def _highlighted(text: str, slices) -> str:
    """copydetect's highlighting, escaped; copydetect returns a text with no passage as it is, unescaped."""
    if text is None:
        return "<em>(missing)</em>"
    if len(slices) == 0 or slices.shape[1] == 0:
        return html.escape(text)
    marked, _ = highlight_overlap(text, slices, "<mark>", "</mark>", truncate=CONTEXT_LINES, escape_html=True)
    return marked


def _pair_section(rank: int, pair: Pair, fingerprints) -> str:
    a, b = html.escape(pair.a), html.escape(pair.b)
    parts = [f'<section class="pair" id="pair-{rank}"><h2>{rank}. {a} and {b}: {_percent(pair.score)}</h2>',
             f"<p>Code: {_percent(pair.code[0])} of {a}'s and {_percent(pair.code[1])} of {b}'s is shared "
             f"(as written {_sides(pair, 'written') or '0 %'}, normalised {_sides(pair, 'normalised') or '0 %'}); "
             f"written answers: {_percent(pair.text[0])} of {a}'s and {_percent(pair.text[1])} of {b}'s. "
             f"Highlighted: the passages the other also has, at least {K} characters long once names, strings, "
             f"comments and layout are normalised (of text, in the answers); the starter's own passages are not, "
             f"but a passage may begin or end in the starter's code. Code more than {CONTEXT_LINES} lines away "
             f"from a passage is cut (...). A module marked <em>normalised</em> is shown as it was compared: "
             f"docstrings and statements without effect removed, each function's names numbered (v0, v1, ...), "
             f"imports first and definitions in a canonical order.</p>"]  # fmt: skip
    parts += [f"<p class=problems>{html.escape(note)}</p>" for note in pair.notes]
    for match in pair.files:
        fps = [fingerprints(student, match.name, match.normalised) for student in (pair.a, pair.b)]
        texts = [fp.raw_code if fp else None for fp in fps]
        slices = compare_files(*fps)[2] if None not in fps else (np.zeros((2, 0)), np.zeros((2, 0)))
        parts.append(
            f"<details open><summary>{html.escape(match.name)}{' <em>normalised</em>' if match.normalised else ''}: "
            f"{_percent(match.fraction_a)} of {a}'s, {_percent(match.fraction_b)} of {b}'s</summary><div class=side>"
            + "".join(f"<div><h4>{html.escape(s)}</h4><pre>{_highlighted(t, sl)}</pre></div>"
                      for s, t, sl in zip((pair.a, pair.b), texts, slices))  # fmt: skip
            + "</div></details>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def _table_row(number: int, pair: Pair, shown_as: int | None) -> str:
    cells = [f'<a href="#pair-{shown_as}">{number}</a>' if shown_as else str(number), html.escape(pair.a),
             html.escape(pair.b)]  # fmt: skip
    code = _sides(pair, "code") + (" normalised" if pair.view == "normalised" and any(pair.code) else "")
    numbers = [_percent(pair.score), code, _sides(pair, "text")]
    modules = ", ".join(f"{html.escape(m.name)} ({_percent(m.fraction_a)} / {_percent(m.fraction_b)})"
                        for m in pair.files)  # fmt: skip
    modules += "".join(f"<br><em class=problems>{html.escape(note)}</em>" for note in pair.notes)
    return (f"<tr{' class=shown' if shown_as else ''}>" + "".join(f"<td>{c}</td>" for c in cells)
            + "".join(f"<td class=num>{c}</td>" for c in numbers) + f"<td>{modules}</td></tr>")  # fmt: skip


def _separation(scores: np.ndarray) -> str:
    """How far apart copies and independent solutions are on the tests' assets, and where this class's pairs lie."""
    copies, independent = COPIES_LOWEST, INDEPENDENT_HIGHEST
    above, below = int(np.count_nonzero(scores >= copies)), int(np.count_nonzero(scores <= independent))
    return (f"How far apart copies and independent work are, on the course's test cases: copies of the instructor's "
            f"solution disguised by renaming, reordering, comments and a statement without effect after every "
            f"statement score at least {_percent(copies)} with it, independent solutions (tests/assets/similarity "
            f"and the instructor's) at most {_percent(independent)} with each other, "
            f"{round(100 * (copies - independent))} points apart. In this class, {above} pairs score at least "
            f"{_percent(copies)}, {len(scores) - above - below} lie between, and {below} score at most "
            f"{_percent(independent)}.")  # fmt: skip


def write_report(pairs: list, out_html: Path, submissions: dict, starter: Path | None = STARTER, problems=(),
                 threshold=DETAIL_THRESHOLD, top=DETAIL_TOP, most=DETAIL_MAX, rows=TABLE_ROWS) -> Path:  # fmt: skip
    """
    Writes ``compare``'s pairs as one self-contained HTML page (nothing is
    loaded from elsewhere): the first ``rows`` pairs ranked, then side by
    side, with the shared passages highlighted, the pairs that share code
    and score ``threshold`` or more or are among the first ``top`` (``most``
    at most). It reads the files again from ``submissions`` ({student: folder}).
    """
    shown = [p for rank, p in enumerate(pairs) if p.files and (rank < top or p.score >= threshold)][:most]
    shown_as = {(p.a, p.b): rank for rank, p in enumerate(shown, 1)}
    scores = np.array([p.score for p in pairs]) if pairs else np.zeros(1)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Code similarity: {ASSIGNMENT}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Code similarity: {ASSIGNMENT}</h1>",
        f"<p>{len(submissions)} submissions, {len(pairs)} pairs, {time.strftime('%Y-%m-%d %H:%M')}. Compared: the "
        f"starter's hw/*.py modules that students write ({html.escape(str(starter))}), less the starter's code; "
        f"{', '.join(sorted(TEXT_FILES))} as text, the others as code twice, as written (names, strings, comments "
        "and layout ignored) and normalised (docstrings, statements without effect and unused assignments removed, "
        "names numbered, definitions in a canonical order), the higher of the two counting.</p>",
        '<p class="note">A high score is evidence for a person to look at, not proof. Each fraction is the share of '
        "what a student added to the starter (the code outside every passage of the starter) that lies in a passage "
        "the other student's files also have; the score is the mean of the two students' fractions, for the code or "
        "for the written answers, whichever is higher. Independent solutions of a scaffolded exercise share many "
        "short passages: compare a pair with "
        f"the class (median {_percent(float(np.median(scores)))}, 90th percentile "
        f"{_percent(float(np.percentile(scores, 90)))}, highest {_percent(float(scores.max()))}) and read the "
        "highlighted code before concluding anything.</p>",
        f'<p class="note separation">{_separation(np.array([p.score for p in pairs]))}</p>',
    ]
    if problems:
        out.append(f'<h2>Problems ({len(problems)})</h2><ul class="problems">')
        out += [f"<li>{html.escape(line)}</li>" for line in problems]
        out.append("</ul>")
    out.append("<h2>Pairs, the most similar first</h2>")
    if not pairs:
        out.append("<p>Fewer than two submissions: nothing to compare.</p>")
    else:
        out.append("<table><tr><th>#</th><th>Student</th><th>Student</th><th>Score</th><th>Code (of each)</th>"
                   "<th>Answers (of each)</th><th>Modules with shared passages (of each)</th></tr>")  # fmt: skip
        out += [_table_row(number, p, shown_as.get((p.a, p.b))) for number, p in enumerate(pairs[:rows], 1)]
        out.append("</table>")
        if len(pairs) > rows:
            out.append(f"<p>{len(pairs) - rows} more pairs, none above {_percent(pairs[rows - 1].score)}.</p>")
    views = {m.normalised for p in shown for m in p.files}
    boilerplate = {view: starter_hashes(starter, normalised=view) for view in views}

    @functools.cache
    def fingerprints(student, name, normalised):  # a student's file is often in several of the pairs shown
        text = read_code(Path(submissions[student]) / "hw" / name, student, [])
        if text is not None and normalised:
            text = _normalised_or_why(text)[0]
        return fingerprint(text, name, boilerplate[normalised], exact_offsets=True) if text is not None else None

    out += [_pair_section(rank, pair, fingerprints) for rank, pair in enumerate(shown, 1)]
    out.append("</body></html>\n")
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text("\n".join(out), encoding="utf-8")
    return out_html


# -- From the paths given to the command ---------------------------------------


def similarity_report(paths, out_html: Path, starter: Path | None = STARTER, progress=None, report=None) -> list:
    """
    ``course similarity PATH...``: finds the submissions in ``paths`` (as
    ``course grade`` does: zips, nbgrader's submitted/, folders with hw/),
    stages private copies of them in a temporary folder, compares every pair
    and writes the HTML report to ``out_html``. A submission that cannot be
    staged (no hw/, a broken zip) is left out, and a file that cannot be read
    compared without; each such problem is passed to ``report`` (default:
    printed to stderr) and listed in the report. Returns the pairs, the most
    similar first. Raises SubmissionError, as ``discover``, for a path that
    holds no submission.
    """
    report = report or (lambda line: tqdm.write(line, file=sys.stderr))
    submissions = unique_students([sub for path in paths for sub in discover(path)])
    progress = len(submissions) >= PROGRESS_FROM if progress is None else progress
    problems, folders = [], {}
    with tempfile.TemporaryDirectory(prefix="similarity-") as staging:  # mode 0700: students' code
        for sub in tqdm(submissions, desc="staging", unit="submission", file=sys.stderr, disable=not progress):
            stage(sub, Path(staging))
            if sub.problem:
                problems.append(f"{sub.student}: left out, {sub.problem}")
            else:
                folders[sub.student] = sub.folder
        pairs = compare(folders, starter, problems=problems, progress=progress)
        write_report(pairs, out_html, folders, starter, problems)
    for line in problems:
        report(line)
    return pairs


def graded_class_report(out: Path, starter: Path | None = STARTER) -> list:
    """
    ``course grade``'s report: every student graded into ``out`` so far,
    compared by the code they were graded with (kept there by course grade),
    written to ``out``/similarity.html. Returns the pairs, the most similar first.
    """
    from course.records.folder import graded_code_folders, write_atomically

    folders = graded_code_folders(out)
    problems = solution_markers(folders)
    if folders and (REPO_ROOT / "hw").is_dir():
        folders[SOLUTION] = REPO_ROOT  # a reference: a submission close to it was copied from the instructor's code
    cache, key = Path(out) / SIMILARITY_CACHE, _report_key(folders, starter)
    try:
        cached = json.loads(cache.read_text())
        if cached.get("key") == key and (Path(out) / "similarity.html").exists():
            return [_pair_from(p) for p in cached["pairs"]]  # nobody's code changed: the report stands
    except (OSError, ValueError, TypeError, KeyError):
        pass
    pairs = compare(folders, starter, problems=problems, progress=False)
    write_report(pairs, Path(out) / "similarity.html", folders, starter, problems)
    write_atomically(cache, json.dumps({"key": key, "pairs": [asdict(p) for p in pairs]}))
    return pairs


SOLUTION = "(instructor's solution)"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def solution_markers(folders: dict) -> list:
    """One line per student whose code holds the solution's markers: the release has none, the instructor's source has."""
    lines = []
    for student, folder in sorted(folders.items()):
        for path in sorted(Path(folder, "hw").glob("*.py")):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            found = [n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith(SOLUTION_MARKERS)]
            if found:
                lines.append(f"{student}: hw/{path.name} holds the instructor's solution markers (### BEGIN SOLUTION), "
                             f"which the release does not have, at line {found[0]}: compare it with the solution")  # fmt: skip
    return lines


SIMILARITY_CACHE = ".similarity.json"  # in the grading folder: the pairs of the report, and the code they come from


def _report_key(folders: dict, starter) -> str:
    """
    A digest of what the report reads (every graded student's student modules,
    the starter's, and this module): never a folder's other files, which for
    the instructor's solution (the repository) are thousands.
    """
    digest = hashlib.sha256(Path(__file__).read_bytes())
    modules = [(name, Path(root, "hw")) for name, root in sorted(folders.items())]
    modules += [("", Path(starter))] if starter is not None and Path(starter).exists() else []
    for name, folder in modules:
        for path in sorted(folder.glob("*.py")):
            if path.name in STUDENT_FILES and path.is_file():
                digest.update(f"{name}/{path.name}".encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _pair_from(data: dict) -> Pair:
    data = dict(data, files=tuple(FileMatch(**f) for f in data["files"]))
    return Pair(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def summary_line(pairs: list, out_html) -> str:
    """One line for the end of ``course grade`` and ``course similarity``."""
    if not pairs:
        return f"Similarity: fewer than two submissions to compare ({out_html})"
    top = pairs[0]
    return f"Most similar: {top.a} and {top.b}, {_percent(top.score)} — {out_html}"


# -- A disguised copy, for the tests and the benchmark ------------------------


class _Renamer(ast.NodeTransformer):
    def __init__(self, mapping):
        self.mapping = mapping

    def visit_Name(self, node):
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.mapping.get(node.arg, node.arg)
        return self.generic_visit(node)


def _local_names(function) -> set:
    """The arguments and the names a function (nested ones included) assigns, less global/nonlocal ones, self and cls."""
    return _assigned_names(function) - {"self", "cls"}


def _needs_at_definition(statement) -> set:
    """Names a def or class statement reads when it runs (decorators, bases, defaults, class bodies), not in calls."""
    needed = set()

    def visit(node):
        if isinstance(node, ast.Name):
            needed.add(node.id)
        for child_field, value in ast.iter_fields(node):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and child_field == "body":
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    visit(child)

    visit(statement)
    return needed


def _shuffle_definitions(body: list, rng: random.Random) -> list:
    """Shuffles each run of consecutive defs and classes, keeping what one needs when it runs after it."""
    definition = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    out, run = [], []
    for statement in body + [None]:
        if isinstance(statement, definition):
            run.append(statement)
            continue
        reads = [_needs_at_definition(statement) | {statement.name} for statement in run]
        needs = {i: {j for j in range(i) if run[j].name in reads[i]} for i in range(len(run))}
        placed = []
        while len(placed) < len(run):
            ready = [i for i in range(len(run)) if i not in placed and needs[i] <= set(placed)]
            placed.append(rng.choice(ready))
        out.extend(run[i] for i in placed)
        run = []
        if statement is not None:
            out.append(statement)
    return out


_JUNK_TEXTS = ["Checked against the notes.", "Helper step.", "Shapes as in the lecture.", "Works now."]
_COMMENTS = ["# TODO: tidy this up", "# checked by hand", "# see the lecture notes", "# shapes: (N, C, H, W)",
             "# this part was tricky", "# works now", "# keep this", "# from the formula in the slides"]  # fmt: skip


def _junk(rng: random.Random, bound: list, fresh) -> ast.stmt:
    """A statement that does nothing: pass, a constant, a string, an unused name, ``x = x``, ``if False:``, ..."""
    kind = rng.choice(["pass", "constant", "string", "unused", "never", "print"] + (["itself", "builtin"] * 2 if bound else []))
    if kind == "pass":
        return ast.Pass()
    if kind == "constant":
        return ast.Expr(ast.Constant(rng.choice([0, 1, None, ..., 2.5])))
    if kind == "string":
        return ast.Expr(ast.Constant(rng.choice(_JUNK_TEXTS)))
    if kind == "unused":
        return ast.Assign([ast.Name(fresh(), ast.Store())], ast.Constant(rng.randint(0, 99)))
    if kind == "print":
        return ast.Expr(ast.Call(ast.Name("print", ast.Load()), [], [ast.keyword("end", ast.Constant(""))]))
    if kind == "never":
        debug = ast.Call(ast.Name("print", ast.Load()), [ast.Constant("debug")], [])
        return ast.If(ast.Constant(rng.choice([False, 0, None])), [ast.Expr(debug)], [])
    name = rng.choice(bound)
    if kind == "itself":
        return ast.Assign([ast.Name(name, ast.Store())], ast.Name(name, ast.Load()))
    kind = ast.Name(rng.choice(["int", "float", "list"]), ast.Load())
    check = ast.Call(ast.Name("isinstance", ast.Load()), [ast.Name(name, ast.Load()), kind], [])
    return ast.Assign([ast.Name(fresh(), ast.Store())], check)


def _interleave_junk(node, rng: random.Random, bound: list, fresh):
    """A junk statement after every statement of every block under ``node``."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = node.args
        bound = [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
        bound += [a.arg for a in (arguments.vararg, arguments.kwarg) if a]
    elif isinstance(node, ast.ClassDef):
        bound = []
    for child_field in ("body", "orelse", "finalbody", "handlers", "cases"):
        block = getattr(node, child_field, None)
        if not isinstance(block, list):
            continue
        out = []
        for statement in block:
            _interleave_junk(statement, rng, bound, fresh)
            out.append(statement)
            if isinstance(statement, ast.stmt):
                out.append(_junk(rng, bound, fresh))
        setattr(node, child_field, out)


def _add_comments(code: str, rng: random.Random) -> str:
    """Comment lines before about half the statements and at the end of about a third of the simple ones."""
    lines = code.splitlines()
    before, after = {}, set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.stmt):
            if rng.random() < 0.5:
                before[node.lineno - 1] = " " * node.col_offset + rng.choice(_COMMENTS)
            if not hasattr(node, "body") and rng.random() < 0.3:
                after.add(node.end_lineno - 1)
    out = []
    for number, line in enumerate(lines):
        if number in before:
            out.append(before[number])
        out.append(f"{line}  {rng.choice(_COMMENTS)}" if number in after else line)
    return "\n".join(out) + "\n"


def disguise(source: str, seed: int = 0, junk: bool = False, comments: bool = False) -> str:
    """
    What a student who copies might hand in: every function's arguments and
    local variables renamed (consistently), top-level functions and classes
    and the methods of each class put in another order (one each still comes
    after what it needs when it is defined), comments and layout gone
    (``ast.unparse``). With ``junk``, a statement that does nothing after
    every statement of every block (``pass``, a constant or a string, an
    unused name, ``x = x``, ``unused = isinstance(x, int)``, ``if False:
    ...``), the program unchanged; with
    ``comments``, comments before and after statements. Deterministic for
    a seed. The copy is not meant to run: a call that passes a renamed
    argument by keyword breaks.
    """
    tree = ast.parse(source)
    rng = random.Random(seed)
    taken = set(re.findall(r"\w+", source))  # no new name may be one of the module's
    words = ["val", "tmp", "res", "buf", "acc", "item", "data", "cur", "aux", "elem", "obj", "arr"]
    counter = 0

    def fresh():
        nonlocal counter
        while True:
            counter += 1
            new = f"{rng.choice(words)}{counter}"
            if new not in taken:
                return new

    def rename_functions(statements):
        for statement in statements:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                _Renamer({name: fresh() for name in sorted(_local_names(statement))}).visit(statement)
            elif isinstance(statement, ast.ClassDef):
                rename_functions(statement.body)
                statement.body = _shuffle_definitions(statement.body, rng)

    rename_functions(tree.body)
    tree.body = _shuffle_definitions(tree.body, rng)
    if junk:
        _interleave_junk(tree, rng, [], fresh)
        ast.fix_missing_locations(tree)
    code = ast.unparse(tree) + "\n"
    return _add_comments(code, rng) if comments else code
