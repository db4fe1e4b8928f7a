"""`memedit eval ...` and `memedit calibrate`: measuring and tuning the scope classifier."""

from __future__ import annotations

from pathlib import Path

import click

from memedit.cli.app import (
    PerSubject,
    _open,
    _print_json,
    json_option,
    mode_options,
    store_option,
    wrapper_settings,
)
from memedit.formats import FORMATS
from memedit.router import KINDS


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("give sizes as N or N,N,... (e.g. 10,100,1000,10000)") from None
    if not sizes or any(n < 1 for n in sizes):
        raise click.BadParameter("sizes must be positive")
    return sizes


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@click.group(name="eval")
def eval_group() -> None:
    """Measure routing and answering on editing benchmarks."""


@eval_group.command(name="routing")
@click.option(
    "--data",
    "data",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="A benchmark file (CounterFact, KnowEdit, zsRE, ROME, memedit JSONL).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True
)
@click.option(
    "--edits",
    "sizes",
    default="1000",
    show_default=True,
    help="Store size(s): the first N records' edits; a comma list reports each.",
)
@click.option(
    "--router",
    type=click.Choice(KINDS),
    help="Scope classifier (default: the store's default for the embedder).",
)
@click.option(
    "--threshold", type=float, help="Decision threshold (default: the router's shipped one)."
)
@click.option("--top-k", type=click.IntRange(1, 100), help="Neighbours per query.")
@click.option(
    "--embedder", help="A sentence-transformers id or folder (default: all-MiniLM-L6-v2)."
)
@click.option(
    "--distractors",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Fill the store up to --edits with this file's edits (their queries are not asked).",
)
@click.option(
    "--heldout-only",
    is_flag=True,
    help="Only KnowEdit records held out from training the shipped router.",
)
@click.option(
    "--questions",
    is_flag=True,
    help="Also ask questions made from each edit's relation (how people ask, not cloze prompts).",
)
@click.option(
    "--as-text",
    "text",
    is_flag=True,
    help="Store each edit as one sentence, as 'memedit add \"...\"' gets it (subject and question part derived).",
)
@click.option(
    "--curve", is_flag=True, help="Also print the precision/recall curve over the threshold."
)
@click.option(
    "--edits-per-subject",
    type=PerSubject(),
    default="1",
    show_default=True,
    help="The wrapper's setting that the 'prompt own' / 'prompt wrong' columns assume ('all': no cap).",
)
@json_option
def eval_routing(
    data: Path,
    fmt: str,
    sizes: str,
    router: str | None,
    threshold: float | None,
    top_k: int | None,
    embedder: str | None,
    distractors: Path | None,
    heldout_only: bool,
    questions: bool,
    text: bool,
    curve: bool,
    edits_per_subject: int | str,
    as_json: bool,
) -> None:
    """Route a benchmark's queries through a fresh store of its edits and report, per kind:
    reliability, generality, portability, locality (neighbourhood, relation specificity,
    unrelated), wrong-edit rates and route latency. "wrong edit": the best edit is another;
    "any wrong": another edit is in scope; "prompt own" / "prompt wrong": the own / another
    edit is among those the wrapper puts in the prompt (--edits-per-subject, at most three).

    \b
    Examples:
        memedit eval routing --data ../shared/data/counterfact/val.json --edits 10,100,1000
        memedit eval routing --data ../shared/data/knowedit/train_cf.json --heldout-only --json
        memedit eval routing --data val.json --edits 10000 --distractors train.json
        memedit eval routing --data val.json --router threshold --threshold 0.7
        memedit eval routing --data ../shared/data/counterfact/val.json --questions
        memedit eval routing --data ../shared/data/counterfact/val.json --as-text
    """
    from memedit.evaluation import evaluate_routing
    from memedit.formats import read_cases
    from memedit.router_training import heldout_subject

    cases = read_cases(data, fmt)
    fillers = read_cases(distractors) if distractors else []
    if heldout_only:
        cases = [c for c in cases if heldout_subject(c.draft.subject)]
    reports = [
        evaluate_routing(
            cases,
            n,
            embedder=embedder,
            router=router,
            threshold=threshold,
            top_k=top_k,
            distractors=fillers,
            questions=questions,
            edits_per_subject=None if edits_per_subject == "all" else int(edits_per_subject),
            text=text,
        ).to_dict()
        for n in _sizes(sizes)
    ]
    if as_json:
        _print_json(reports[0] if len(reports) == 1 else reports)
        return
    kinds = sorted({kind for r in reports for kind in r["locality"]})
    header = [
        "edits",
        "reliability",
        "generality",
        "portability",
        *(["question"] if questions else []),
        *kinds,
        "wrong edit",
        "any wrong",
        "prompt own",
        "prompt wrong",
        "p50 ms",
        "p99 ms",
    ]
    click.echo("  ".join(f"{h:>12}" for h in header))
    for r in reports:
        row = [
            f"{r['n_edits']:,}",
            _rate(r["reliability"]),
            _rate(r["generality"]),
            _rate(r["portability"]),
            *([_rate(r["question"])] if questions else []),
            *[_rate(r["locality"].get(k)) for k in kinds],
            _rate(r["wrong_edit_rate"]),
            _rate(r["any_wrong_edit_rate"]),
            _rate(r["selected_own_edit_rate"]),
            _rate(r["selected_wrong_edit_rate"]),
            f"{r['latency_ms']['p50']:.1f}",
            f"{r['latency_ms']['p99']:.1f}",
        ]
        click.echo("  ".join(f"{v:>12}" for v in row))
    router_info = reports[-1]["router"]
    click.echo(
        f"router: {router_info['kind']}, threshold {router_info['threshold']:.2f}, top_k {router_info['top_k']}"
    )
    left_out = reports[-1]["locality_left_out"]
    if left_out:
        counted = ", ".join(f"{n:,} {kind}" for kind, n in left_out.items())
        click.echo(f"left out: {counted} prompts that ask another stored edit's question")
    if curve and reports[-1]["curve"]:
        points = reports[-1]["curve"]
        kinds = list(points[0]["kinds"])  # each kind's rate at that threshold
        click.echo("\nthreshold  precision  recall  " + "  ".join(kinds))
        for point in points:
            click.echo(
                f"{point['threshold']:9.3f}  {point['precision']:9.3f}  {point['recall']:6.3f}  "
                + "  ".join(f"{point['kinds'][k]:>{len(k)}.3f}" for k in kinds)
            )


@eval_group.command(name="model")
@click.option(
    "--model",
    "model_name",
    envvar="MEMEDIT_MODEL",
    required=True,
    help="Base model: a hub id or a local folder.",
)
@click.option(
    "--data",
    "data",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="A benchmark file.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True
)
@click.option(
    "--edits",
    "n_edits",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Use the first N records' edits.",
)
@mode_options
@click.option(
    "--style",
    type=click.Choice(["completion", "question"]),
    default="completion",
    show_default=True,
    help="Raw prompts (as EasyEdit) or the template's Question/Answer framing.",
)
@click.option(
    "--max-new-tokens", type=click.IntRange(1, 512), help="Default: the target's length + 2."
)
@json_option
def eval_model(
    model_name: str,
    data: Path,
    fmt: str,
    n_edits: int,
    mode: str | None,
    counterfactual_model: str | None,
    max_edits: int | None,
    edits_per_subject: int | str | None,
    style: str,
    max_new_tokens: int | None,
    as_json: bool,
) -> None:
    """Base vs edited model, end to end: per query kind, how often the query was routed,
    teacher-forced token accuracy and target probability (as EasyEdit computes them) and
    free-generation exact match; locality: the share of prompts whose output is unchanged.

    \b
    Example:
        memedit eval model --model Qwen/Qwen2.5-0.5B-Instruct --data ../shared/data/knowedit/recent_train.json --edits 50
    """
    import tempfile

    from memedit.evaluation import evaluate_model, valid_cases
    from memedit.formats import read_cases
    from memedit.model import EditableModel
    from memedit.store import EditStore

    cases = valid_cases(read_cases(data, fmt))[:n_edits]
    with (
        tempfile.TemporaryDirectory(prefix="memedit-eval-model-") as tmp,
        EditStore(Path(tmp) / "store") as store,
    ):
        store.add_many([c.draft for c in cases])
        editable = EditableModel.from_pretrained(
            model_name,
            store=store,
            **wrapper_settings(mode, counterfactual_model, max_edits, edits_per_subject),
        )
        report = evaluate_model(editable, cases, style=style, max_new_tokens=max_new_tokens)
    if as_json:
        _print_json(report)
        return
    names = [
        "routed",
        "base_exact_match",
        "wrapped_exact_match",
        "base_token_accuracy",
        "wrapped_token_accuracy",
        "unchanged",
    ]
    click.echo(f"{'kind':<22}{'queries':>8}" + "".join(f"{n:>24}" for n in names))
    for kind, values in report["kinds"].items():
        cells = "".join(f"{_rate(values.get(n)):>24}" for n in names)
        click.echo(f"{kind:<22}{values['queries']:>8}{cells}")


@click.command()
@click.option(
    "--data",
    "data",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help='JSONL: {"query": ..., "edit": id or exact text, or null when out of scope}.',
)
@click.option("--dry-run", is_flag=True, help="Report the threshold that fits; do not save it.")
@store_option
@json_option
def calibrate(data: Path, dry_run: bool, store_path: Path | None, as_json: bool) -> None:
    """Fit the router's threshold to your own labelled queries and save it in the store.

    Each line names a query and the edit it should reach ("edit": an id, an id prefix or
    the edit's exact text), or "edit": null for a query that must stay with the base model.
    The threshold with the best balanced accuracy is kept.

    \b
    Example:
        memedit calibrate --data my-queries.jsonl
    """
    from memedit.evaluation import calibrate as fit
    from memedit.evaluation import read_labelled_queries

    with _open(store_path, create=False) as store:
        report = fit(store, read_labelled_queries(data, store), save=not dry_run)
    if as_json:
        _print_json(report.to_dict())
        return
    verb = "Would set" if dry_run else "Set"
    click.echo(
        f"{verb} the {report.kind} router's threshold {report.threshold_before:.3f} -> {report.threshold:.3f} "
        f"({report.positives} in-scope and {report.negatives} out-of-scope queries; balanced accuracy "
        f"{report.balanced_accuracy_before:.3f} -> {report.balanced_accuracy:.3f})"
    )


@click.command()
@click.option("--kind", type=click.Choice(KINDS), help="Switch the scope classifier.")
@click.option(
    "--threshold",
    type=float,
    help="Decision threshold (switching kind without one takes that kind's default).",
)
@click.option("--top-k", type=click.IntRange(1, 100), help="Nearest edits looked at per query.")
@store_option
@json_option
def router(
    kind: str | None,
    threshold: float | None,
    top_k: int | None,
    store_path: Path | None,
    as_json: bool,
) -> None:
    """Show the store's scope classifier, or change it; saved in the store's config.

    Kinds: "learnt" (the trained head; a second encoder call for unsure
    candidates), "learnt-fast" (its fast tier alone: one encoder call, less
    accurate), "threshold" (cosine similarity; for embedders without a head).

    \b
    Examples:
        memedit router
        memedit router --kind learnt-fast
        memedit router --kind learnt --threshold 0.4
    """
    with _open(store_path, create=False) as store:
        if kind is None and threshold is None and top_k is None:
            current = store.router
        else:
            current = store.configure_router(kind=kind, threshold=threshold, top_k=top_k)
    settings = current.in_effect()
    if as_json:
        _print_json(settings)
        return
    own = " (the head's)" if settings.get("threshold_set") is False else ""
    head = f", head {settings['head']}" if "head" in settings else ""
    click.echo(
        f"router: {settings['kind']}, threshold {settings['threshold']:.3f}{own}, "
        f"top_k {settings['top_k']}{head}"
    )
