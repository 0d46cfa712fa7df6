"""
The grading worker: the only process that runs a submission's code.

Started by ``course.grading.sandbox.Worker`` inside its sandbox as
``python -I -B worker.py --fd-in N --fd-out M --home DIR ...``. It is a
standalone script: it imports nothing from the instructor's repository. The
trusted probes arrive as text in the first request and run from memory, so
no file of the grader is readable next to the submission. It answers each
request with plain data (tensors, numbers, strings, lists, dicts) serialised
by ``torch.save`` and the request's id; the harness loads replies with
``weights_only=True`` and makes every comparison with a reference itself.

Messages on both pipes are a 4-byte big-endian length followed by a torch.save
payload.
"""
import argparse
import ast
import builtins
import contextlib
import ctypes
import dis
import errno
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import os
import random
import struct
import sys
import traceback
import types


# The functions that carry messages, bound before any code of the submission
# runs: a submission that replaces os.write or struct.pack later changes its
# own copies, not these.
_read, _write, _pack, _unpack, _BytesIO = os.read, os.write, struct.pack, struct.unpack, io.BytesIO


def _malloc_trim():
    """glibc's malloc_trim, or nothing where the C library has none."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda pad: 0


# After each probe, memory the probe freed goes back to the system (glibc keeps freed small blocks for later): the
# worker and the harness share the container's memory, and Gradescope's default is 768 MB for everything. (The twin of
# course.grading.sandbox.return_freed_memory: this script imports nothing of the repository.)
_return_freed_memory = _malloc_trim()


def read_message(fd):
    header = _read_exactly(fd, 4)
    if header is None:
        return None
    (size,) = _unpack(">I", header)
    return _read_exactly(fd, size)


def _read_exactly(fd, size):
    chunks, remaining = [], size
    while remaining:
        chunk = _read(fd, remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def write_message(fd, payload: bytes):
    data = _pack(">I", len(payload)) + payload
    while data:
        data = data[_write(fd, data):]


DISK_BYTES = 0  # the submission's disk budget, from the first request
IMPORT_NAME = dis.opmap["IMPORT_NAME"]
MAX_FRAME_BYTES = 256 << 20  # the harness refuses larger messages
MAX_ERROR_CHARS = 2000  # of an error message sent back


def describe_exception(exc: BaseException, submission: str) -> str:
    """One line naming the exception and the innermost place in the submission it came from."""
    where = ""
    for frame, lineno in reversed(list(traceback.walk_tb(exc.__traceback__))):
        filename = os.path.abspath(frame.f_code.co_filename)
        if filename.startswith(submission + os.sep):
            where = f" ({os.path.relpath(filename, submission)}:{lineno}, in {frame.f_code.co_qualname[:200]})"
            break
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" ({os.path.relpath(exc.filename, submission)}:{exc.lineno})"
        return f"SyntaxError: {exc.msg}{where}"
    if isinstance(exc, NotImplementedError):
        return f"not implemented yet: NotImplementedError raised{where}"
    if isinstance(exc, SystemExit):
        return f"your code called exit({exc.code!r}){where}"
    if isinstance(exc, OSError) and exc.errno in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
        return f"your code wrote more than its disk budget of {DISK_BYTES >> 20} MiB{where}"
    text = str(exc).strip().splitlines()
    message = text[0][:300] if text else ""
    return f"{type(exc).__name__}: {message}{where}" if message else f"{type(exc).__name__}{where}"


# Loaded before dropping privileges: the interpreter's library and the virtual
# environment may sit where the unprivileged user cannot read them (a pyenv
# under /root, a clone in a private folder). The probes file adds what the
# submission's modules are expected to import (its PRELOAD tuple) and a
# warm_up() that runs what torch loads lazily on first use.
PRELOADED_STDLIB = (
    "abc", "collections", "copy", "dataclasses", "enum", "functools", "itertools", "json",
    "math", "numbers", "operator", "statistics", "string", "time", "typing", "warnings",
)  # fmt: skip


def warm_up_serialisation(torch):
    """torch.save and torch.load import parts of torch on first use; do that while they are readable."""
    buffer = io.BytesIO()
    torch.save({"tensor": torch.zeros(1), "text": ""}, buffer)
    torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)


def drop_privileges(uid, gid, preload):
    """The uid fallback: load what the submission may need, then become the grading slot's uid for good."""
    for name in preload:
        importlib.import_module(name)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def load_probes(sources: list):
    """
    The probes module, compiled from the texts the harness sent, one file
    after the other in one namespace (a part's file imports probes.py's
    helpers as ``from probes import ...``). Docstrings are dropped
    (optimize=2) and nothing is cached, so the worker holds no readable copy
    of the grader's source. Once loaded, the module is taken out of
    sys.modules: the submission's code cannot import it by name.
    """
    module = types.ModuleType("probes")
    sys.modules["probes"] = module
    try:
        for number, source in enumerate(sources):
            exec(compile(source, f"<grading probes {number}>", "exec", optimize=2), module.__dict__)
    finally:
        del sys.modules["probes"]
    return module


class UnavailableModules(importlib.abc.MetaPathFinder):
    """The student modules the grader could not stage (not UTF-8 source, too large): importing one says why."""

    def __init__(self, reasons):
        self.reasons = dict(reasons)

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.reasons:
            raise ImportError(self.reasons[fullname], name=fullname)
        return None


GUARD = "__hw_own_self__"  # a dunder name: the policy refuses every such name in a student module


def own_self_guard(students):
    """
    The check run first in every method of a student class: its self is an
    object of a class the homework defines. Called through its class (an
    alias of it, a container, a property's getter), a method takes any object
    as self, and the private attributes the policy lets a method read on self
    would then be those of a library's object. The policy decides what self
    is from the source; this is the runtime's second line.
    """
    mro, module_of = type.__dict__["__mro__"].__get__, type.__dict__["__module__"].__get__
    students = frozenset(students)

    def check(obj, method):
        kind = type(obj)
        if not any(module_of(cls) in students for cls in mro(kind)):
            raise TypeError(f"{method} was called on a {kind.__name__}, which is not an object of the homework's "
                            "classes: a method runs on its own class's objects")  # fmt: skip

    return check


class OwnSelf(ast.NodeTransformer):
    """Puts the guard's call first in every method that takes self (see own_self_guard)."""

    def __init__(self):
        self.classes = []

    def visit_ClassDef(self, node):
        self.classes.append(node.name)
        for statement in ast.walk(node):  # methods in the class body, also under an if or a with
            if statement is not node and isinstance(statement, ast.FunctionDef) and self.is_method_of(node, statement):
                self.guard(statement)
        self.generic_visit(node)
        self.classes.pop()
        return node

    @staticmethod
    def is_method_of(cls, function):
        """Whether ``function`` is defined in the body of ``cls`` itself (not in a method's or a nested class's)."""
        def inside(body):
            for statement in body:
                if statement is function:
                    return True
                if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                    continue
                if any(inside(getattr(statement, part, ()) or ()) for part in ("body", "orelse", "finalbody")):
                    return True
                if any(inside(handler.body) for handler in getattr(statement, "handlers", ())):
                    return True
            return False
        return inside(cls.body)

    def guard(self, function):
        arguments = function.args.posonlyargs + function.args.args
        unbound = any(isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod") for d in function.decorator_list)
        if not arguments or unbound:
            return
        call = ast.Expr(ast.Call(ast.Name(GUARD, ast.Load()),
                                 [ast.Name(arguments[0].arg, ast.Load()),
                                  ast.Constant(f"{'.'.join(self.classes)}.{function.name}")], []))  # fmt: skip
        first = function.body[0]
        docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
        ast.copy_location(call, first)
        ast.fix_missing_locations(call)
        function.body.insert(1 if docstring else 0, call)


class SnapshotSource(importlib.machinery.SourceFileLoader):
    """
    A module of the submission's hw/ compiled from its text as the worker read
    it at start, before any code of the submission ran: what the policy
    checked is what runs. The file on disk is never read again (the worker's
    copy is writable: code could rewrite a module, or put a .pyc beside it,
    and import that), and no cached bytecode is ever used.
    """

    def __init__(self, fullname, path, text: bytes):
        super().__init__(fullname, path)
        self.text = text

    def get_data(self, path):
        if path != self.path:
            raise OSError(f"{path}: only the module's own source is read")
        return self.text

    def get_code(self, fullname):
        return compile(self.text, self.path, "exec", dont_inherit=True)


class GuardedSource(SnapshotSource):
    """A student module, from its snapshot, compiled with OwnSelf's guards."""

    guard = None
    loaded = None  # called with the module once its own code has run (LibrarySnapshot.add_classes)

    def get_code(self, fullname):
        tree = OwnSelf().visit(ast.parse(self.text, filename=self.path))
        return compile(tree, self.path, "exec", dont_inherit=True)

    def exec_module(self, module):
        module.__dict__[GUARD] = self.guard
        super().exec_module(module)
        if self.loaded is not None:
            self.loaded(module.__name__)


class SubmissionModules(importlib.abc.MetaPathFinder):
    """
    The package ``hw`` and its modules, all of them served from ``texts``
    ({file name: source}, sent by the harness; the closed world of files: a
    module written later, a data file renamed, a subfolder, a .pyc, are not
    importable, and no module's text is on disk to be read as data). Their
    paths are under ``folder``/hw. The student modules (``students``) get
    OwnSelf's guards.
    """

    def __init__(self, folder, texts, students, guard):
        self.package = os.path.join(folder, "hw")
        self.texts = {name: text.encode("latin-1") for name, text in texts.items()}  # the files' bytes (package_texts)
        self.students = frozenset(students)
        self.guard = guard
        self.loaded = None

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "hw" and not fullname.startswith("hw."):
            return None
        name = "__init__.py" if fullname == "hw" else fullname[len("hw."):] + ".py"
        if "." in name[:-3] or name not in self.texts:
            if fullname == "hw":  # a folder without __init__.py: a package all the same, of the snapshot's modules
                spec = importlib.machinery.ModuleSpec("hw", None, is_package=True)
                spec.submodule_search_locations.append(self.package)
                return spec
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        origin = os.path.join(self.package, name)
        if fullname in self.students:
            loader = GuardedSource(fullname, origin, self.texts[name])
            loader.guard, loader.loaded = self.guard, self.loaded
        else:
            loader = SnapshotSource(fullname, origin, self.texts[name])
        locations = [self.package] if fullname == "hw" else None
        return importlib.util.spec_from_file_location(fullname, origin, loader=loader, submodule_search_locations=locations)


class ClosedImports:
    """
    ``__import__`` for a closed world: an import made by a student module
    (its globals' ``__name__`` is one of ``students``) may name only the
    modules the harness allows (hw.policy.MODULES), their parent packages, and
    no private name. The policy refuses such imports in the source; this is
    the second line for code that reached an import another way. Imports made
    by libraries and the course's own modules pass through.
    """

    def __init__(self, original, students, allowed):
        self.original, self.students, self.allowed = original, frozenset(students), frozenset(allowed)
        self.parents = frozenset(name.rsplit(".", i)[0] for name in self.allowed for i in range(name.count(".") + 1))

    def __call__(self, name, globals=None, locals=None, fromlist=(), level=0):
        importer = globals.get("__name__", "") if isinstance(globals, dict) else ""
        if importer in self.students and self.is_statement(globals):
            refused = level != 0 or name not in self.parents or (name not in self.allowed and not fromlist)
            refused = refused or any(str(item).startswith("_") for item in fromlist or ())
            if refused:
                raise ImportError(f"{name} is not available to the homework's code while it is graded", name=name)
            module = self.original(name, globals, locals, fromlist, level)
            for item in fromlist or ():  # `from torch import library` imports a module by another name
                value = getattr(module, str(item), None)
                if isinstance(value, types.ModuleType) and value.__name__ not in self.allowed:
                    raise ImportError(f"{value.__name__} is not available to the homework's code while it is graded")
            return module
        return self.original(name, globals, locals, fromlist, level)

    @staticmethod
    def is_statement(globals):
        """
        Whether the caller is an import statement of the module with these
        globals. PyTorch's C++ code imports its own modules on first use with
        the globals of whatever Python frame is running (often the student's),
        but its frame is then at a call, not at an IMPORT_NAME instruction.
        """
        frame = sys._getframe(2)
        return frame.f_globals is globals and frame.f_code.co_code[frame.f_lasti] == IMPORT_NAME


def refuse_threads():
    """
    No new Python thread from here on: the rules a probe runs under (its
    dispatch mode, gradient mode) hold in the probe's own thread only, so code
    that ran elsewhere would escape them. The worker and the probes need none;
    tqdm's monitor thread is switched off first. (The policy refuses the
    modules that make threads; this is the second line.)
    """
    import _thread
    import threading

    tqdm = sys.modules.get("tqdm")
    if tqdm is not None:
        tqdm.tqdm.monitor_interval = 0

    def refused(*args, **kwargs):
        raise RuntimeError("the homework's code may not start threads while it is graded")

    # threading keeps its own reference to the function that starts a thread
    _thread.start_new_thread = _thread.start_new = threading._start_new_thread = refused
    threading.Thread.start = refused


# What no code may do in the worker once the submission's code can run, refused by an audit hook (PEP 578: Python
# raises these events whoever makes the call, a library called with the submission's arguments included, and a hook
# cannot be removed). Pickle's find_class is how an unpickled file names the functions it calls: the worker's own
# messages and the homework's files load with torch's weights_only unpickler, which never asks for it.
REFUSED_EVENTS = {
    "pickle.find_class": "unpickling objects from a file is not available to the homework's code (torch.load with "
                         "weights_only=True and numpy.load without allow_pickle read tensors and arrays)",
}  # fmt: skip


def refuse_events():
    """Installs the audit hook that refuses REFUSED_EVENTS for the rest of the worker's life."""
    refused = dict(REFUSED_EVENTS)

    def hook(event, args):
        if event in refused:
            raise RuntimeError(refused[event])

    sys.addaudithook(hook)


def load_data_in_this_process():
    """
    A DataLoader with worker processes (num_workers > 0) loads its batches in
    the worker's own process instead, as with num_workers=0: no process may
    start in the sandbox, and a student's choice of loader processes is a
    matter of speed, not of correctness. The batches are the same, in the same
    order (the sampler runs here either way).
    """
    from torch.utils.data import dataloader

    def in_this_process(loader):
        loader.num_workers, loader.timeout = 0, 0
        return dataloader._SingleProcessDataLoaderIter(loader)

    dataloader.DataLoader._get_iterator = in_this_process


def submission_folder(home: str) -> str:
    """The submission's folder in the worker's home: its hw/ holds no file (the modules are served from memory)."""
    folder = os.path.join(home, "submission")
    os.makedirs(os.path.join(folder, "hw"), exist_ok=True)
    return folder


def main():
    global DISK_BYTES
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd-in", type=int, required=True)
    parser.add_argument("--fd-out", type=int, required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    args = parser.parse_args()

    # Anything the submission prints goes to the log, never into the protocol.
    os.dup2(2, 1)

    import torch

    save, load, manual_seed, random_seed = torch.save, torch.load, torch.manual_seed, random.seed

    def seed():
        random_seed(0)
        manual_seed(0)

    def serialise(obj) -> bytes:
        buffer = _BytesIO()
        save(obj, buffer)
        if buffer.tell() > MAX_FRAME_BYTES:
            raise ValueError(f"it is larger than {MAX_FRAME_BYTES >> 20} MiB")
        # The harness accepts plain data only; an object of the submission's
        # (a str subclass with its own __reduce__, say) is refused here as the
        # submission's error rather than there as a forged message.
        load(_BytesIO(buffer.getvalue()), weights_only=True)
        return buffer.getvalue()

    hello = load(_BytesIO(read_message(args.fd_in)), weights_only=True)
    DISK_BYTES = hello["disk_bytes"]
    torch.set_num_threads(hello["threads"])
    probes = load_probes(hello.pop("probes"))
    # The worker's own references, taken before any code of the submission runs: the probes module is not
    # importable, and the table the requests are answered from is a copy that nothing else holds.
    table = types.MappingProxyType(dict(probes.PROBES))
    student_error = probes.StudentError
    submission = os.path.realpath(submission_folder(args.home))
    os.chdir(args.home)

    # An editable install of the instructor's repository adds a finder that
    # would serve the instructor's `hw` to a submission that lacks one.
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
    sys.meta_path.insert(0, UnavailableModules(hello["unavailable"]))
    student_modules = SubmissionModules(submission, hello.pop("package"), hello["modules"], own_self_guard(hello["modules"]))
    sys.meta_path.insert(1, student_modules)
    sys.dont_write_bytecode = True
    if hello["allowed_imports"] is not None:
        builtins.__import__ = ClosedImports(builtins.__import__, hello["modules"], hello["allowed_imports"])
    # The submission's folder is not on sys.path: hw is served by student_modules, and nothing else of the
    # submission is a module (a file its code writes could otherwise be imported by a library, as a backend, say).
    if args.uid is not None:
        warm_up_serialisation(torch)
        if hasattr(probes, "warm_up"):
            probes.warm_up()
        drop_privileges(args.uid, args.gid, PRELOADED_STDLIB + tuple(getattr(probes, "PRELOAD", ())))

    refuse_threads()
    refuse_events()
    load_data_in_this_process()
    libraries = LibrarySnapshot(torch)
    # Each module's classes as its own code left them: another module that changes them at its import is seen.
    student_modules.loaded = lambda name: libraries.add_classes([name])
    import_errors = {}
    for name in hello["modules"]:
        if name in hello["unavailable"]:
            import_errors[name] = hello["unavailable"][name]
            continue
        try:
            module = importlib.import_module(name)
            origin = os.path.realpath(getattr(module, "__file__", "") or "")
            if not origin.startswith(submission + os.sep):
                import_errors[name] = f"{name} was not found in the submission"
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt from student code too
            if isinstance(exc, ModuleNotFoundError) and exc.name and name.startswith(exc.name):
                import_errors[name] = f"{name.replace('.', '/')}.py is missing from the submission"
            else:
                import_errors[name] = f"{name} does not import: {describe_exception(exc, submission)}"
    probes.IMPORT_ERRORS.update(import_errors)
    libraries.add_classes(hello["modules"])

    write_message(args.fd_out, serialise({"id": hello["id"], "ok": True, "import_errors": import_errors}))
    while True:
        payload = read_message(args.fd_in)
        if payload is None:
            return
        request = load(_BytesIO(payload), weights_only=True)
        del payload  # not held while the probe runs (a training's data is tens of MB)
        reply = answer(table, student_error, request, submission, serialise, seed, libraries)
        del request
        write_message(args.fd_out, reply)
        del reply
        _return_freed_memory(0)


class LibrarySnapshot:
    """
    The namespaces of torch that the probes rely on, as they were before any
    code of the submission ran: code that replaced or added one of their
    entries (``torch.Tensor.is_nested = ...``, ``F.conv2d = ...``) has changed
    what the probes measure, and no probe runs after it. The policy refuses
    such code; this is the runtime's second line.
    """

    def __init__(self, torch):
        import torch.nn.functional
        import torch.optim

        self.spaces = {"torch": torch, "torch.Tensor": torch.Tensor, "torch.nn.functional": torch.nn.functional,
                       "torch.nn.Module": torch.nn.Module, "torch.autograd": torch.autograd,
                       "torch.optim": torch.optim, "torch.optim.Optimizer": torch.optim.Optimizer,
                       "builtins": builtins}  # fmt: skip
        # torch's optimizers too: the recipe that trains YourCNN steps with torch.optim.Adam.
        self.spaces |= {f"torch.optim.{n}": c for n, c in vars(torch.optim).items() if isinstance(c, type) and not n.startswith("_")}
        self.before = {name: dict(vars(space)) for name, space in self.spaces.items()}
        self.torch_spaces = frozenset(self.spaces)  # torch's own wrappers of its functions are tolerated here only
        self.torch_dir = os.path.dirname(os.path.realpath(torch.__file__)) + os.sep
        # Modules gain entries as their submodules are imported lazily: only classes must not gain any.
        self.closed = {name for name, space in self.spaces.items() if isinstance(space, type)}

    def add_classes(self, module_names):
        """
        The classes the student modules define, as they were imported: code
        that replaced a method of one later (``LeakyReLU.forward = ...`` from
        another module) changes what the probes grade. The policy refuses
        stores on another module's classes; this is the second line.
        """
        for module_name in module_names:
            module = sys.modules.get(module_name)
            for name, value in (vars(module) if module is not None else {}).items():
                if f"{module_name}.{name}" in self.spaces:
                    continue  # taken when the module's own code had run: a later change must show
                if isinstance(value, type) and type.__dict__["__module__"].__get__(value) == module_name:
                    self.spaces[f"{module_name}.{name}"] = value
                    self.before[f"{module_name}.{name}"] = dict(vars(value))
                    self.closed.add(f"{module_name}.{name}")

    def is_torchs_code(self, function) -> bool:
        """Whether a function's code is in torch's own files (functools.wraps copies a name and a module, not the code)."""
        code = getattr(function, "__code__", None)
        return code is not None and os.path.realpath(code.co_filename).startswith(self.torch_dir)

    def changed(self):
        """The first entry that code replaced, removed or (on a class) added, as 'torch.Tensor.is_nested'; or None."""
        for name, space in self.spaces.items():
            now, before = vars(space), self.before[name]
            for key, value in before.items():
                current = now.get(key, _MISSING)
                # torch wraps some of its functions when a module of its own is first imported (torch._dynamo wraps
                # torch.manual_seed): such a wrapper names what it wraps.
                wraps = name in self.torch_spaces and getattr(current, "__wrapped__", _MISSING) is value \
                    and self.is_torchs_code(current)  # fmt: skip
                if current is not value and not wraps:
                    return f"{name}.{key}"
            added = [key for key in now if key not in before and key not in PYTHON_CACHES]
            if name in self.closed and added:
                return f"{name}.{added[0]}"
        return None


_MISSING = object()
PYTHON_CACHES = {"__slotnames__"}  # what Python adds to a class itself (copyreg, when an instance is pickled)


def answer(table, student_error, request, submission, serialise, seed, libraries) -> bytes:
    """
    Runs the requested probe and serialises its reply, both under the probe's
    rules (if it has any): code the submission hooked into serialisation meets
    the same refusals as the probe.
    """
    seed()  # every probe starts from the same random state, so grading is repeatable
    probe = table[request["probe"]]
    rules = getattr(probe, "rules", None)
    changed = libraries.changed()
    if changed:
        owner = "a class as it was defined" if changed.startswith("hw.") else "PyTorch's or Python's, not the homework's"
        return serialise({"ok": False, "id": request["id"], "error": f"your code changed {changed}, which is "
                          f"{owner}: no check runs after that"})  # fmt: skip
    try:
        with rules() if rules else contextlib.nullcontext():
            value = probe(**request["kwargs"])
    except student_error as exc:
        error = str(exc)
    except BaseException as exc:  # noqa: BLE001 - whatever the submission raises is reported, not fatal
        error = describe_exception(exc, submission)
    else:
        try:
            with rules(refuse_autograd=True) if rules else contextlib.nullcontext():
                return serialise({"ok": True, "value": value, "id": request["id"]})
        except student_error as exc:
            error = str(exc)
        except BaseException as exc:  # noqa: BLE001 - e.g. an object torch.save cannot serialise
            error = f"the result could not be sent back: {type(exc).__name__}: {str(exc)[:200]}"
    if len(error) > MAX_ERROR_CHARS:  # a class name or a message of the submission's can be megabytes long
        error = error[:MAX_ERROR_CHARS] + " ..."
    try:
        return serialise({"ok": False, "error": error, "id": request["id"]})
    except BaseException as exc:  # noqa: BLE001 - the message itself is the submission's text
        return serialise({"ok": False, "error": f"the error could not be sent back ({type(exc).__name__})", "id": request["id"]})


if __name__ == "__main__":
    main()
