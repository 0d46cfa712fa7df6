# The nbgrader course: its root is this repository, its one assignment is hw2.
# `course release` and `course grade` call nbgrader with this configuration.
from pathlib import Path

c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.root = "."
c.CourseDirectory.course_id = "cnn-homework"

# Students submit executed notebooks: autograde does not re-run them by
# default (`course grade --execute` does, in fast mode).
c.Execute.timeout = 600

# Students edit these modules and submit them with their notebooks. nbgrader's
# autograde would otherwise replace files that also exist in the source
# folder with the instructor's copies, so their tests would pass vacuously
# (nbgrader issue #940).
_course_root = Path(__file__).resolve().parent
c.Autograde.exclude_overwriting = {
    "hw2": sorted(path.relative_to(_course_root).as_posix() for path in _course_root.glob("hw/*.py")),
}

# nbgrader writes only the notebooks of the release: this hook adds the stripped
# hw/, the reference assets, environment.yml and the student README, so that
# formgrader's Generate and Preview buttons and `nbgrader generate_assignment`
# build the same complete release as `course release`.
c.GenerateAssignment.post_convert_hook = "course.authoring.release.complete_release"

# The student release must never contain the hidden suite or solutions, nor what running the source notebooks left
# next to them (Part 5 writes its experiments' results/).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "results"]

# Late submissions: course grade records when each student handed in (timestamp.txt in submitted/) and the due date
# and extensions in gradebook.db; nbgrader's LateSubmissionPlugin then sets a penalty per notebook, which
# `course export` subtracts from the total. "none": lateness is shown, never penalised; "zero": a late submission
# scores 0 (or name a plugin of your own: nbgrader's docs, "Late submission plugin").
c.LateSubmissionPlugin.penalty_method = "none"

# nbgrader's exchange (formgrader's Release, Collect and Release Feedback buttons, students' Assignments tab on one
# shared machine): a folder of the course itself, made by `course release` and `course grade`, so that it exists and is
# writable without root. On a JupyterHub shared by the class, point it at a folder every user can write instead.
c.Exchange.root = str(_course_root / "exchange")

# formgrader renders the questions and answers with MathJax: from this server (jupyter_server_mathjax), not a CDN.
# course/templates/formgrade/mathjax.html.j2 replaces nbconvert's macro of that name in formgrader's pages only; this
# file is read after formgrader sets these template folders, so its own folder is named again, second.
import course  # noqa: E402 (the course's package, installed with it)
from nbgrader.server_extensions.formgrader import handlers as formgrader  # noqa: E402

c.HTMLExporter.extra_template_basedirs = [str(Path(course.__file__).parent / "templates"), formgrader.template_path]
