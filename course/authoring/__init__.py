"""
Authoring: what the course hands out, built from the instructor's sources.

The release (``release/hw2``: notebooks through nbgrader, ``hw/*.py`` stripped of
solutions), the reference tensors of ``tests/assets``, the bundled example
submissions, the gate that proves it all sound (``course validate``) and the
accuracy targets measured on the real data sets.
"""
