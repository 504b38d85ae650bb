"""`snap chat`: talk to a base or unlearned model, interactively or with --prompt, to feel the difference."""

from __future__ import annotations

from typing import ClassVar

import typer

from snapcli.cli.common import emit, workspace
from snapcli.cli.flags import spec_command
from snapcli.console import err_console, log, out_console, progress, state
from snapcli.stages.options import BackendOptions
from snapcli.stages.spec import Text, Texts, option

COMMANDS_HELP = "/reset clears the conversation, /exit (or Ctrl-D) quits"


class ChatSpec(BackendOptions):
    """Chat with a model: replies on stdout, the prompt and logs on stderr. Without --prompt, an interactive loop
    (/reset, /exit); with --json, one JSON document with every exchange."""

    stage: ClassVar[str] = "chat"

    model: str = option(..., "Alias (smollm2, tiny, ...), train artifact ref (train@latest), local dir or hub id; "
                        "with --backend openai, the served model's name.", short="-m")
    prompt: Texts = option([], "Ask this and exit (repeatable; each prompt is answered on its own).", short="-p")
    system: Text = option(None, "System message put before every conversation.")
    max_new_tokens: int = option(256, "Longest reply, in tokens.", ge=1)
    temperature: float = option(0.0, "0 = greedy (deterministic); >0 samples.", ge=0)
    seed: int | None = option(None, "Seed for sampling (with --temperature > 0).", ge=0)
    max_input_tokens: int = option(1024, "Context budget; the oldest turns are dropped to fit it.", ge=16)


def handle(spec: ChatSpec) -> None:
    from snapcli.chat import ChatSession
    from snapcli.llm import make_backend
    from snapcli.models import resolve_model

    ws = workspace()
    backend, _why = make_backend(spec.backend, ws, base_url=spec.base_url, concurrency=spec.concurrency,
                                 device=spec.device, dtype=spec.dtype, batch_size=spec.batch_size, use_cache=False)
    info: dict = {"model": spec.model, "backend": backend.name}
    if backend.in_process:
        resolved = resolve_model(spec.model, ws)  # fail fast (exit 2) on an unknown name before any heavy import
        info.update(resolved=resolved.path_or_id, kind=resolved.kind)
        log(f"loading [bold]{spec.model}[/bold] ({resolved.kind}: {resolved.path_or_id})…")
    session = ChatSession(backend, spec.model, system=spec.system, max_new_tokens=spec.max_new_tokens,
                          temperature=spec.temperature, seed=spec.seed, max_input_tokens=spec.max_input_tokens)
    prompt = spec.prompt
    if prompt:
        with progress(transient=True) as bar:
            task = bar.add_task("generating", total=len(prompt))
            replies = session.ask_each(list(prompt), on_done=lambda n: bar.advance(task, n))

        def render() -> None:
            for r in replies:
                if len(replies) > 1:
                    out_console.print(f"[bold]> {r['prompt']}[/bold]", markup=True, highlight=False)
                print(r["reply"], flush=True)

        emit({**info, "replies": replies}, render)
        return

    exchanges = _interactive(session)
    if state().json:
        emit({**info, "exchanges": exchanges})


def _interactive(session) -> list[dict]:
    """Read lines until /exit or end of input; works the same on a terminal and on piped stdin."""
    st = state()
    if not st.quiet:
        err_console.print(f"[dim]{COMMANDS_HELP}[/dim]", highlight=False)
    exchanges: list[dict] = []
    while True:
        try:
            line = err_console.input("" if st.quiet else "[bold cyan]you>[/bold cyan] ")
        except EOFError:
            if not st.quiet:
                err_console.print()
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            session.reset()
            log("[dim]conversation cleared[/dim]")
            continue
        if text.startswith("/") and " " not in text:
            log(f"[yellow]unknown command {text}[/yellow] ({COMMANDS_HELP})")
            continue
        res = session.ask(text)
        if res["history_dropped"]:
            log(f"[dim]dropped the {res['history_dropped']} oldest messages to fit the context[/dim]", verbose=True)
        exchanges.append(res)
        if not st.json:
            print(res["reply"], flush=True)
    return exchanges


def register(app: typer.Typer) -> None:
    app.command("chat")(spec_command(ChatSpec, handle, common=False))
