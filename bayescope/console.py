"""The terminal the CLI writes to (stderr) and its progress bar, shared by the CLI modules."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

console = Console(stderr=True)


def progress_bar() -> Progress:
    """A progress bar on the CLI's console (silent when stderr is not a terminal)."""
    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                    disable=not console.is_terminal)
