"""Behaviour check of stop-string-earliest-match: vLLM's own ``check_stop_strings``.

One step of new text holds two stop strings; the one listed second ends first in the
text. Appending the tokens one at a time would stop at it, so a single step must too.
"""

from vllm_patches.verify import kit

DEVICE = "cpu"


def run() -> kit.Finding:
    from vllm.v1.engine import detokenizer

    text = "The answer is 42.\nUser: thanks"
    stop = ["User:", "\n"]  # "\n" ends first in the text, "User:" is listed first
    got = detokenizer.check_stop_strings(text, len(text), stop, include_in_output=False)
    want = ("\n", text.index("\n"))
    kept = detokenizer.check_stop_strings(text, len(text), stop, include_in_output=True)
    want_kept = ("\n", text.index("\n") + 1)
    return kit.Finding(got != want or kept != want_kept,
                       f"check_stop_strings gave {got!r} / {kept!r} (include_in_output), "
                       f"appending one token at a time gives {want!r} / {want_kept!r}")
