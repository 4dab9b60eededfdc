"""The kernel's out-of-memory killer, as far as this machine says (Linux /proc/vmstat; macOS does
not)."""

from __future__ import annotations


def kernel_oom_kills() -> int | None:
    """Processes the Linux OOM killer has killed since boot; None where the kernel does not say."""
    try:
        with open("/proc/vmstat", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None
