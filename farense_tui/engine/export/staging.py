"""Write an export under a temp name beside its final folder and rename it only when complete.

A crash, a full disk or a failed check leaves nothing under the final name; a replaced export
(--force) keeps the old one until the new one is whole.
"""

from __future__ import annotations

import errno
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from farense_tui.engine.errors import UserError


def _write_failed(exc: BaseException) -> bool:
    # MLX reports a failed write as RuntimeError: "[write] Unable to write N bytes to file." from
    # safetensors, "[save_gguf] gguf_create failed" from GGUF (seen writing to /dev/full).
    return (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or (
        isinstance(exc, RuntimeError)
        and ("Unable to write" in str(exc) or str(exc).startswith("[save"))
    )


def partial_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.partial-{os.getpid()}")


@contextmanager
def staged(final: Path) -> Iterator[Path]:
    """Yield an empty temp folder; on success it becomes `final`, on any failure it is removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_name(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if _write_failed(exc):
            free = shutil.disk_usage(final.parent).free / 1e9
            raise UserError(
                f"writing {final} failed ({exc}; {free:.1f} GB free on its disk): nothing was "
                f"written under that name; free space or pass --out elsewhere"
            ) from None
        raise
    old = final.with_name(f".{final.name}.replaced-{os.getpid()}")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
