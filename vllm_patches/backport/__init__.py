"""Backport: the fixes committed onto fork branches as reviewable commits.

``workflow`` runs ``backport`` / ``--continue`` / ``--abort`` through the states of
``state``; ``branch_tree`` reads a branch's files without a checkout, ``gitrepo`` wraps
git, every command of it in ``gitenv``'s environment (none of the repository's configured
commands runs), ``worktrees`` marks the worktrees left to the user and finds them again
(only this repository's, only this backport's); ``core.commit_message`` writes the message
and its trailers.
"""
