"""
formgrader renders math without a CDN: its page loads MathJax from the Jupyter
server (jupyter_server_mathjax, installed with the course), as nbgrader_config.py
configures nbconvert's templates. (Not a browser: the page is rendered the way
formgrader's handler renders it, and the script it loads is checked to exist.)
"""
import re
from pathlib import Path

import jupyter_server_mathjax
from nbconvert import HTMLExporter
from nbgrader.server_extensions.formgrader import handlers
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from course import ASSIGNMENT, REPO_ROOT


def formgrade_page(notebook: Path) -> str:
    """A notebook as formgrader shows it: nbgrader_config.py with the formgrade template (FormgradeExtension's)."""
    config = Config()  # formgrader's own settings first (build_extra_config), then the course's file (NbGrader.initialize)
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(REPO_ROOT)).load_config())
    resources = {"assignment_id": ASSIGNMENT, "notebook_id": notebook.stem, "submission_id": "0", "index": 0,
                 "total": 1, "base_url": "/", "student": "ann", "last_name": "A", "first_name": "Ann",
                 "notebook_path": f"/tree/{notebook.name}"}  # fmt: skip
    html, _ = HTMLExporter(config=config).from_filename(str(notebook), resources=resources)
    return html


def test_formgrader_loads_mathjax_from_the_server():
    html = formgrade_page(REPO_ROOT / "release" / ASSIGNMENT / "Part1_Backprop.ipynb")
    sources = re.findall(r'<script[^>]*\ssrc="([^"]*MathJax[^"]*)"', html)
    assert sources == ["../../../static/jupyter_server_mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"], sources
    # From <base>/formgrader/submissions/<id>/, three levels up is the server's root, where the extension serves it.
    served = Path(jupyter_server_mathjax.__file__).parent / "static"
    assert (served / "MathJax.js").is_file() and (served / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert "MathJax.Hub.Config" in html and "init_mathjax" in html, "nbconvert's MathJax configuration is kept"
