# The nbgrader course: its root is this repository, its one assignment is hw2.
# `course release` and `course grade` call nbgrader with this configuration.
c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.root = "."
c.CourseDirectory.course_id = "cnn-homework"
c.CourseDirectory.db_assignments = [dict(name="hw2")]

# Students submit executed notebooks: autograde does not re-run them by
# default (`course grade --execute` does, in fast mode).
c.Execute.timeout = 600

# Students edit these modules and submit them with their notebooks. nbgrader's
# autograde would otherwise replace files that also exist in the source
# folder with the instructor's copies, so their tests would pass vacuously
# (nbgrader issue #940).
c.Autograde.exclude_overwriting = {
    "hw2": ["hw/__init__.py", "hw/layers.py", "hw/grad_compare.py", "hw/answers.py"],
}

# The student release must never contain the hidden suite or solutions.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
