"""Backport: the fixes committed onto fork branches as reviewable commits.

``workflow`` runs ``backport`` / ``--continue`` / ``--abort`` through the states of
``state``; ``branch_tree`` reads a branch's files without a checkout, ``gitrepo`` wraps
git, ``commit_message`` writes the message and its trailers.
"""
