"""Process-wide settings shared by the backends: the kernel thread count."""
import os


def _default_threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


num_threads = _default_threads()
