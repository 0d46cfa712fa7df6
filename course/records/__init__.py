"""
Records: the grading folder (``grades/``), where every grade lives.

One student's ``results.json``, the class's ``gradebook.csv`` and the staff's
``reviews.json`` are read and written here and nowhere else, each file
replaced in one step. Records import nothing from grading or reports.
"""
