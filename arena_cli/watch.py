"""`arena watch`: rerun the hidden test on every save, while the student edits in their editor.

One event loop owns the screen and the state; three sources feed it through a queue:
- file events (watchdog) on the exercise's folder (without an id: on every chapter's folder, and a save
  of another exercise's file makes that one current). Each event is answered at once: the file's
  content hash decides whether it really changed, and a change starts a run (no quiet period to wait
  out; a later event of the same save cancels that run and starts another). This catches editors that
  save in place, by truncate-then-write, in chunks, or by writing a temp file and renaming it, and
  skips saves that change nothing.
- key presses (when stdin is a TTY; read without Enter);
- finished test runs, each run in a thread. A save during a run cancels the stale run (its child is
  killed) and starts a new one, so the last verdict shown is always for the file's final content.
"""

from __future__ import annotations

import hashlib
import queue
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from rich.text import Text
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from arena_cli import picker, render
from arena_cli.batch import workers_allowed
from arena_cli.commands import after_verdict, list_exercises, reveal_hint, show_exercise
from arena_cli.course import Exercise
from arena_cli.course_guard import read_regular
from arena_cli.hints import HintError
from arena_cli.keys import WATCH_KEYS, CbreakInput
from arena_cli.links import link
from arena_cli.progress import ProgressFileError
from arena_cli.runner import run_exercise
from arena_cli.session import Context, next_pending, record_run, set_current
from arena_cli.verdict import Verdict

def content_hash(path: Path) -> str | None:
    """Hash of the file's bytes, or None when it isn't a readable regular file (a FIFO or a link to
    /dev/zero must not hang or flood watch)."""
    data = read_regular(path, follow=True)
    return None if data is None else hashlib.sha256(data).hexdigest()


class _FolderEvents(FileSystemEventHandler):
    def __init__(self, events: queue.Queue):
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        self.events.put(("fs", [Path(p) for p in paths if p]))


class _Keys:
    """Single key presses from a TTY, without Enter, as ("key", ch) events; a no-op without a TTY."""

    def __init__(self, events: queue.Queue):
        self.events = events
        self.tty = sys.stdin is not None and sys.stdin.isatty()
        self.input: CbreakInput | None = None
        self.stop = threading.Event()
        self.paused = threading.Event()  # set while another screen (the interactive list) reads the keys
        self.idle = threading.Event()  # set while paused and not reading

    def __enter__(self) -> _Keys:
        if self.tty:
            self.input = CbreakInput().__enter__()
            threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        while not self.stop.is_set():
            if self.paused.is_set():
                self.idle.set()
                time.sleep(0.05)
                continue
            self.idle.clear()
            data = self.input.read(0.1)
            if data == "":
                return
            for ch in data or "":
                self.events.put(("key", ch))

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.input is not None:
            self.input.__exit__(*exc)


@dataclass
class _Run:
    number: int
    cancel: threading.Event
    content: str | None
    thread: threading.Thread | None = None


class Watcher:
    def __init__(self, ctx: Context, exercise: Exercise, *, clear: bool | None = None, worker=None, follow=False):
        self.ctx = ctx
        self.follow = follow  # any exercise the student saves becomes the one watched
        self.saved: dict[Path, str | None] = {}  # in follow mode: each exercise file's content, as last seen
        self.worker = worker  # a warm Worker, used once it is ready (runs are cold until then)
        self.ex = exercise
        self.events: queue.Queue = queue.Queue()
        self.clear = ctx.console.is_terminal if clear is None else clear
        self.run: _Run | None = None
        self.runs_started = 0
        self.last_run_content: str | None = None
        self.last_verdict: Verdict | None = None
        self.observer = None
        self.show_card = True  # the exercise card (with objectives) heads the next verdict screen
        self.keys: _Keys | None = None

    def path_link(self, style: str = "") -> Text:
        return link(self.ex.exercise_path, root=self.ex.root, style=style)

    # ----------------------------------------------------------------- runs

    def start_run(self) -> None:
        if self.run is not None:
            self.run.cancel.set()  # the stale run's child is killed; its result is dropped
        self.runs_started += 1
        content = content_hash(self.ex.exercise_path)
        run = _Run(self.runs_started, threading.Event(), content)
        self.run = run
        self.last_run_content = content
        self.ctx.console.print(Text.assemble("Running ", self.path_link(), " …", style="dim"))
        exercise = self.ex
        warm = self.worker.path if self.worker is not None and self.worker.ready else None

        def work() -> None:
            try:
                verdict = run_exercise(exercise, cancel=run.cancel, worker=warm, prepare=True)
            except Exception as e:  # noqa: BLE001 - the loop must survive anything a run does
                self.events.put(("run_failed", run.number, f"{type(e).__name__}: {e}"))
                return
            if verdict is not None:
                self.events.put(("verdict", run.number, verdict))

        run.thread = threading.Thread(target=work, daemon=True)
        run.thread.start()

    def on_verdict(self, number: int, verdict: Verdict) -> None:
        if self.run is None or number != self.run.number:
            return  # a cancelled run finished anyway
        if content_hash(self.ex.exercise_path) != self.run.content:
            # The file changed while this ran (a save still being written, or a new one): this verdict
            # is not for the file's final content. Count the attempt, don't show or record a pass; the
            # save's own run follows (and says so if progress can't be saved).
            with suppress(ProgressFileError):
                record_run(self.ctx, self.ex, verdict, record_pass=False)
            self.run = None
            self.on_change()
            return
        self.run = None
        try:
            progress, trouble = record_run(self.ctx, self.ex, verdict), None
        except ProgressFileError as e:  # the verdict is still shown, the line under it; watching goes on
            progress, trouble = None, e
        self.last_verdict = verdict
        console = self.ctx.console
        if self.clear:
            console.clear()
        if self.show_card and progress is not None:
            show_exercise(self.ctx, self.ex, progress, steps=False)
            self.show_card = False
        else:
            console.print(render.watch_header(self.ex))
        render.show_verdict(console, self.ex, verdict)
        if progress is not None:
            after_verdict(self.ctx, self.ex, verdict, progress, in_watch=True)
        else:
            self.ctx.error(trouble)
        self.footer(progress)

    def footer(self, progress=None) -> None:
        """The course's progress bar and the keys, under every screen watch prints."""
        console = self.ctx.console
        try:
            progress = progress or self.ctx.load_progress()
            console.print(render.progress_line(self.ctx.course, self.ex, progress))
        except ProgressFileError:
            pass  # said where it was met
        console.print(f"[dim]{time.strftime('%H:%M:%S')}  watching for saves · {WATCH_KEYS.footer()}[/]")

    # ----------------------------------------------------------------- saves

    def on_fs(self, paths: list[Path]) -> None:
        """A file event: in follow mode, a changed exercise file other than the watched one is followed;
        then the watched file is run if its content changed."""
        if self.follow:
            for path in paths:
                ex = self.exercises_by_path.get(path)
                if ex is None or ex == self.ex:
                    continue
                content = content_hash(path)
                if content is not None and content != self.saved.get(path):
                    self.saved[path] = content
                    self.ctx.console.print(Text.assemble(
                        "Following ", (ex.id, "bold"), ": you saved ", link(path, root=ex.root),
                        "; it is now your current exercise."))
                    self.switch_to(ex, open_in_editor=False)
                    return
        self.on_change()

    def on_change(self) -> None:
        """Run if the watched file's content changed since the last run (a run still going is stale:
        `start_run` cancels it)."""
        content = content_hash(self.ex.exercise_path)
        self.saved[self.ex.exercise_path] = content
        if content == self.last_run_content:
            return
        if content is None:
            self.last_run_content = None
            self.ctx.console.print(
                Text.assemble(
                    self.path_link(style="yellow"),
                    (" is gone." if not self.ex.exercise_path.exists() else " is not a regular file.", "yellow"),
                    f" Recreate it, or `arena reset {self.ex.id}` for a fresh copy.",
                )
            )
            return
        self.start_run()

    # ----------------------------------------------------------------- keys

    def on_key(self, key: str) -> bool:
        """Handle a key (through `keys.WATCH_KEYS`); False means quit."""
        action = WATCH_KEYS.action(key)
        if action == "quit":
            return False
        handlers = {"rerun": self.start_run, "hint": self.show_hint, "list": self.show_list, "next": self.go_next}
        if action in handlers:
            try:
                handlers[action]()
            except ProgressFileError as e:  # one line; watching goes on
                self.ctx.error(e)
            if action in ("hint", "next") and self.run is None:  # a screen of its own: the keys again
                self.footer()
        return True

    def show_hint(self) -> None:
        try:
            reveal_hint(self.ctx, self.ex.id, in_watch=True)
        except HintError as e:
            self.ctx.console.print(f"[red]{e}[/]")

    def show_list(self) -> None:
        """The interactive list (in a terminal), then back to watching: the exercise made current there,
        or the last verdict again. Without a terminal, the table."""
        if self.keys is None or not self.keys.tty or not picker.interactive_possible(self.ctx.console):
            list_exercises(self.ctx, pending=False, chapter=None, as_json=False)
            self.footer()
            return
        self.keys.paused.set()
        try:
            self.keys.idle.wait(1)
            state = picker.ListState(picker.rows_of(self.ctx, self.ctx.load_progress()))
            chosen = picker.pick(self.ctx, state)
        finally:
            self.keys.paused.clear()
        if chosen is not None and chosen != self.ex.id:
            self.switch_to(self.ctx.course.get(chosen))
        elif self.last_verdict is not None and self.run is None:
            self.show_card = False
            self.redraw()
        else:
            self.footer()

    def redraw(self) -> None:
        """The last verdict's screen again (after the list gave the screen back)."""
        console = self.ctx.console
        if self.clear:
            console.clear()
        console.print(render.watch_header(self.ex))
        render.show_verdict(console, self.ex, self.last_verdict)
        with suppress(ProgressFileError):
            after_verdict(self.ctx, self.ex, self.last_verdict, self.ctx.load_progress(), in_watch=True)
        self.footer()

    def go_next(self) -> None:
        console = self.ctx.console
        progress = self.ctx.load_progress()
        if not progress.find(self.ex.id).done:
            console.print(f"[yellow]Pass this exercise first[/] (`{WATCH_KEYS.key_for('hint')}` for a hint).")
            return
        following = next_pending(self.ctx.course, progress)
        if following is None:
            console.print(render.all_done(self.ctx.course))
            return
        self.switch_to(following)

    def switch_to(self, exercise: Exercise, open_in_editor: bool = True) -> None:
        set_current(self.ctx, exercise, open_in_editor)  # first: if progress can't be saved, nothing has changed
        if self.run is not None:
            self.run.cancel.set()
            self.run = None
        self.ex = exercise
        self.show_card = True
        if not self.follow:
            self.watch_folder()
        self.start_run()

    # ----------------------------------------------------------------- loop

    def watch_folder(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join()
        self.observer = Observer()
        if self.follow:  # every chapter's folder
            folder = self.ex.exercise_path.parent.parent
            self.saved = {path: content_hash(path) for path in self.exercises_by_path}
        else:
            folder = self.ex.exercise_path.parent
        self.observer.schedule(_FolderEvents(self.events), str(folder), recursive=self.follow)
        self.observer.start()

    @cached_property
    def exercises_by_path(self) -> dict[Path, Exercise]:
        return {ex.exercise_path: ex for ex in self.ctx.course.exercises}

    def loop(self) -> int:
        self.watch_folder()
        self.start_run()
        with _Keys(self.events) as keys:
            self.keys = keys
            if not keys.tty:
                self.ctx.console.print("[dim]No terminal for keys: Ctrl-C stops watching.[/]")
            while True:
                try:
                    kind, *payload = self.events.get(timeout=0.5)
                except queue.Empty:
                    continue
                if kind == "fs":
                    self.on_fs(payload[0])
                elif kind == "key":
                    if not self.on_key(payload[0]):
                        return 0
                elif kind == "verdict":
                    self.on_verdict(*payload)
                elif kind == "run_failed":
                    self.run = None
                    self.ctx.console.print(f"[red]arena could not run the test: {payload[1]}[/]")

    def close(self) -> None:
        if self.run is not None:
            self.run.cancel.set()  # the run ends its child and restores the course; wait for that
            if self.run.thread is not None:
                self.run.thread.join(timeout=10)
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=2)


def watch(ctx: Context, exercise: Exercise, follow: bool = False) -> int:
    from arena_cli.worker_client import Worker

    set_current(ctx, exercise)
    worker = Worker(ctx.course.root).start() if workers_allowed() else None
    watcher = Watcher(ctx, exercise, worker=worker, follow=follow)
    try:
        return watcher.loop()
    except KeyboardInterrupt:
        return 0
    finally:
        watcher.close()
        if worker is not None:
            worker.stop()
        ctx.console.print("Stopped watching. Progress is saved.")
