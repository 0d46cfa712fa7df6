"""
Grading: from the submissions handed in to one record per student.

Submissions are found and staged (``submissions``), each runs its hidden suite
(``suite``, ``suite_process``) whose probes reach the student's code only
through a sandboxed worker (``sandbox``, ``worker``, ``isolation``, ``budget``),
here or on a Dask cluster (``cluster``) or on Gradescope (``gradescope``);
``run`` is ``course grade``: it records each student (``course.records``) and
writes the pages (``course.reports``).
"""
