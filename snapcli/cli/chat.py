"""`snap chat`: talk to a base or unlearned model, interactively or with --prompt, to feel the difference."""

from __future__ import annotations

from typing import Optional

import typer

from snapcli.cli.common import emit, workspace
from snapcli.console import err_console, log, out_console, progress, state
from snapcli.errors import SnapError

COMMANDS_HELP = "/reset clears the conversation, /exit (or Ctrl-D) quits"


def chat_cmd(
    model: str = typer.Option(
        ..., "--model", "-m",
        help="Alias (smollm2, tiny, ...), train artifact ref (train@latest), local dir or hub id.",
    ),
    prompt: Optional[list[str]] = typer.Option(
        None, "--prompt", "-p", help="Ask this and exit (repeatable; each prompt is answered on its own).",
    ),
    system: Optional[str] = typer.Option(None, "--system", help="System message put before every conversation."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="Longest reply, in tokens."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy (deterministic); >0 samples."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampling (with --temperature > 0)."),
    max_input_tokens: int = typer.Option(
        1024, "--max-input-tokens", min=16, help="Context budget; the oldest turns are dropped to fit it.",
    ),
) -> None:
    """Chat with a model: replies on stdout, the prompt and logs on stderr. Without --prompt, an interactive loop
    (/reset, /exit); with --json, one JSON document with every exchange."""
    from snapcli.chat import ChatSession
    from snapcli.models import load_causal_lm, resolve_model

    if prompt is not None and any(not p.strip() for p in prompt):
        raise SnapError("--prompt must not be empty")
    if system is not None and not system.strip():
        raise SnapError("--system must not be empty")
    ws = workspace()
    resolved = resolve_model(model, ws)  # fail fast (exit 2) on an unknown name before any heavy import
    log(f"loading [bold]{model}[/bold] ({resolved.kind}: {resolved.path_or_id})…")
    lm, tok = load_causal_lm(model, ws)
    session = ChatSession(lm, tok, system=system, max_new_tokens=max_new_tokens, temperature=temperature,
                          seed=seed, max_input_tokens=max_input_tokens)
    info = {"model": model, "resolved": resolved.path_or_id, "kind": resolved.kind}

    if prompt:
        with progress(transient=True) as bar:
            task = bar.add_task("generating", total=len(prompt))
            replies = session.ask_each(list(prompt), on_batch=lambda n: bar.advance(task, n))

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
    app.command("chat")(chat_cmd)
