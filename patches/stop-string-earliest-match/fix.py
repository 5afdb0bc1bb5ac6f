"""vllm-patches fix for vllm-project/vllm#49391: the earliest-ending stop string wins.

Runtime mode binds this function to the globals of ``vllm.v1.engine.detokenizer``
(and rebinds the copies other modules imported); source mode writes it into that
module after vLLM's own function, which stays as
``_vllm_patches_orig_check_stop_strings``.
"""


def check_stop_strings(
    output_text: str,
    new_char_count: int,
    stop: list[str],
    include_in_output: bool,
) -> tuple[str, int] | None:
    """Check the new text for stop strings (vllm-patches, vllm#49391).

    Returns (stop_string, offset) for the stop string that ends earliest in
    the text (ties: the first listed), where offset is the length to truncate
    the text to, or -1 for no truncation; None when no stop string matched.
    """
    if not new_char_count or not stop:
        return None
    earliest = None  # (end, start, stop string)
    for candidate in stop:
        # Only the new characters (and a stop string's length before them) can match now.
        start = output_text.find(candidate, 1 - new_char_count - len(candidate))
        if start == -1:
            continue
        end = start + len(candidate)
        if earliest is None or end < earliest[0]:
            earliest = (end, start, candidate)
    if earliest is None:
        return None
    end, start, matched = earliest
    if not include_in_output:
        return matched, start
    return (matched, -1) if end >= len(output_text) else (matched, end)
