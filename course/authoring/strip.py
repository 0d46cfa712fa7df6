"""
Removes solution regions from the homework's Python modules.

nbgrader strips notebooks but copies other files verbatim, so ``hw/*.py`` need
their own stripper. It follows nbgrader's marker convention: the lines from
``### BEGIN SOLUTION`` to ``### END SOLUTION`` become one
``raise NotImplementedError()`` at the indentation of the BEGIN marker. A
``# TODO:`` comment above the marker stays and tells the student what to do.
"""
import ast
import re

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = "raise NotImplementedError()"


class StripError(ValueError):
    """A module whose solution markers cannot be stripped into a valid stub."""


def strip_solutions(source: str, filename: str = "<module>") -> str:
    """
    Returns ``source`` with every solution region replaced by the stub.

    Raises StripError for unbalanced or nested markers, a region at module
    level (the stub would make the module fail to import), or a stripped
    module that is not valid Python.
    """
    out = []
    begin_line = None
    for lineno, line in enumerate(source.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin_line is not None:
                raise StripError(f"{filename}:{lineno}: nested {BEGIN} (open since line {begin_line})")
            indent = re.match(r"[ \t]*", line).group(0)
            if not indent:
                raise StripError(
                    f"{filename}:{lineno}: solution region at module level; "
                    "put it inside a function so the stripped module still imports"
                )
            begin_line = lineno
            out.append(f"{indent}{STUB}\n")
        elif stripped == END:
            if begin_line is None:
                raise StripError(f"{filename}:{lineno}: {END} without {BEGIN}")
            begin_line = None
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise StripError(f"{filename}:{begin_line}: {BEGIN} is never closed")
    stripped_source = "".join(out)
    try:
        ast.parse(stripped_source, filename=filename)
    except SyntaxError as e:
        raise StripError(f"{filename}: the stripped module is not valid Python: {e}") from e
    return stripped_source


def has_solutions(source: str) -> bool:
    return any(line.strip() == BEGIN for line in source.splitlines())
