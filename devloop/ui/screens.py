"""Modal screens of the dashboard: help, env, scale prompt, quit confirmation."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from devloop.core.envview import user_lines
from devloop.core.spec import AppSpec

SECRET_MASK = "••••••"


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        lines = "\n".join(f"  {key:<8} {text}" for key, text in self.keys)
        with Vertical(classes="dialog"):
            yield Static("[b]devloop keys[/b]\n\n" + lines + "\n\n  Esc closes this help.", id="help-text")


def env_lines(app: AppSpec, show_secrets: bool = False) -> list[str]:
    """The app's user-provided environment as `cf env` shows it; secret values masked."""
    return user_lines(app.env, app.secret_env, show_secrets=show_secrets)


class EnvScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,e", "dismiss", "Close")]

    def __init__(self, app_spec: AppSpec) -> None:
        super().__init__()
        self.app_spec = app_spec

    def compose(self) -> ComposeResult:
        body = "\n".join(env_lines(self.app_spec))
        with Vertical(classes="dialog"):
            yield Static(f"[b]env of {self.app_spec.name}[/b]\n\n{body}", id="env-text", markup=False)


class ScaleScreen(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, app_name: str, current: int) -> None:
        super().__init__()
        self.app_name = app_name
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Instances of {self.app_name} (now {self.current}), 0 to 100:")
            yield Input(value=str(self.current), id="scale-input", type="integer")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            count = int(event.value)
        except ValueError:
            count = -1
        if 0 <= count <= 100:
            self.dismiss(count)
        else:
            self.notify("enter a number from 0 to 100", severity="error")

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmQuitScreen(ModalScreen[bool | None]):
    BINDINGS = [
        Binding("y", "answer(True)", "Remove"),
        Binding("n", "answer(False)", "Keep"),
        Binding("escape", "answer(None)", "Cancel"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Quit devloop. Remove the apps too? [b]y[/b]es / [b]n[/b]o / Esc to stay")

    def action_answer(self, answer: bool | None) -> None:
        self.dismiss(answer)
