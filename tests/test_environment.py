"""The student's environment.yml and the course's pyproject.toml ask for the same versions."""
import tomllib

from packaging.requirements import Requirement

from course import REPO_ROOT
from course.authoring.release import pip_packages


def requirements_of_pyproject():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return {r.name: r for r in map(Requirement, project["dependencies"])}


def requirements_of_environment():
    return {r.name: r for r in (Requirement(p.strip("'")) for p in pip_packages(REPO_ROOT))}


def test_environment_asks_for_what_the_course_pins():
    course, student = requirements_of_pyproject(), requirements_of_environment()
    shared = sorted(set(course) & set(student))
    assert {"torch", "torchvision", "numpy"} <= set(shared)
    differ = {name: (str(student[name].specifier), str(course[name].specifier)) for name in shared
              if student[name].specifier != course[name].specifier}
    assert not differ, f"environment.yml and pyproject.toml disagree (environment, pyproject): {differ}"
    # Everything a student installs beyond the course's own packages is only the notebook front end.
    assert set(student) - set(course) <= {"jupyterlab"}, set(student) - set(course)
