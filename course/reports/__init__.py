"""
Reports: what people read, made from the records.

Each student's feedback page, the class report, the similarity report, the
nbgrader course (its gradebook, formgrader's notebooks, the exports to a
spreadsheet or Canvas and the feedback given back). Reports read records;
they never run the grading.
"""
