"""
The course's secret: the hidden suite draws its held-out values from it when it grades.

A held-out value written in ``autograder/`` (a seed of test images, say) is
known to anyone who ever saw a copy of the suite: a "network" that looks up
the images of that seed scores full marks. So the held-out images of
YourCNN's accuracy test and of the Grad-CAM localisation test are drawn from
seeds derived from a random secret made once per course, kept outside git in
``.course-secret`` (mode 0600), sent to Dask workers with the grading
settings and put into the Gradescope zip when it is built. Keep the file
(back it up with the gradebook): a new secret draws new held-out images, so
regrading with it can move a YourCNN score by a point.
"""
import hashlib
import hmac
import os
import secrets

from course import REPO_ROOT

SECRET_FILE = REPO_ROOT / ".course-secret"
SECRET_ENV = "HW_COURSE_SECRET"  # how a grading run hands the secret to its suites (never to a submission's worker)


def course_secret(path=SECRET_FILE) -> str:
    """The course's secret: from HW_COURSE_SECRET, else from ``path``, made there (readable by its owner only) if missing."""
    given = os.environ.get(SECRET_ENV)
    if given:
        return given
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def held_out_seed(secret: str, purpose: str) -> int:
    """A seed for one kind of held-out value ("yourcnn-test-images"), from the secret: the same per course, unguessable."""
    digest = hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # below 2**63: any torch generator takes it
