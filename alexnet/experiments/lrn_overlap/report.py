"""What the study's results say: summaries, paired comparisons, tables, figures."""

from __future__ import annotations

import statistics
from pathlib import Path

from .recipe import SCHEDULES, phase_at, schedule_of, total_epochs
from .study import PLAN


def gap(record: dict) -> float:
    """An epoch's train-test gap: centre-crop test error minus the training error measured the same way
    (``train_eval_error``) where the run recorded it, else minus the epoch's running training error (the committed
    study's runs: there, after 160 epochs of slow change, the two agree closely)."""
    return record["test_error"] - record.get("train_eval_error", record["train_error"])


def summary(results: dict, plan=None) -> list[dict]:
    """Per variant: seeds finished, final centre / multiview test error (median, range), the train-test gap at
    the last epoch, seconds per epoch (median), wall time.

    ``plan`` ((variant, seeds) pairs, e.g. :data:`PLAN`): a row for every planned variant, in the plan's order,
    those not begun included, and ``runs`` counts the seeds planned; without it, the variants and runs begun.
    """
    by_variant: dict[str, list[dict]] = {variant: [] for variant, _ in plan or ()}
    for run in results["runs"].values():
        by_variant.setdefault(run["variant"], []).append(run)
    planned = dict(plan or ())

    def spread(values):
        return dict(median=statistics.median(values), min=min(values), max=max(values)) if values else None

    rows = []
    for variant, runs in by_variant.items():
        done = [r for r in runs if r["finished"]]
        rows.append(dict(
            variant=variant, seeds_finished=len(done), runs=max(planned.get(variant, 0), len(runs)),
            epochs_done=[len(r["history"]) for r in runs],
            centre=spread([r["final_test_error"]["centre"] for r in done]),
            multiview=spread([r["final_test_error"]["multiview"] for r in done]),
            gap=spread([gap(r["history"][-1]) for r in done]),
            seconds_per_epoch=spread([s["seconds"] for r in runs for s in r["history"]]),
            seconds_by_machine=_seconds_by_machine(runs),
            wall_h=sum(r["wall_s"] for r in runs) / 3600,
        ))  # fmt: skip
    return rows


def _epoch_seconds_by_machine(runs: list[dict]) -> dict[str, list[float]]:
    """Each epoch's training seconds, grouped by the machine it ran on (epochs from before the machine was
    recorded under ``"unrecorded"``), in the order first met."""
    by_machine: dict[str, list[float]] = {}
    for run in runs:
        for epoch in run["history"]:
            by_machine.setdefault(epoch.get("machine", "unrecorded"), []).append(epoch["seconds"])
    return by_machine


def _seconds_by_machine(runs: list[dict]) -> dict[str, float]:
    """Median seconds per epoch on each machine the epochs ran on, in the order first met."""
    return {machine: statistics.median(seconds) for machine, seconds in _epoch_seconds_by_machine(runs).items()}


def summary_line(row: dict) -> str:
    """One variant of :func:`summary` as a sentence."""

    seconds = row["seconds_per_epoch"]
    if not row["epochs_done"]:
        return f"{row['variant']}: 0 of {row['runs']} runs finished (not begun)"
    return (f"{row['variant']}: {row['seeds_finished']} of {row['runs']} runs finished (epochs {row['epochs_done']}); "
            f"test error centre {_pct(row['centre'])}, multiview {_pct(row['multiview'])}; train-test gap "
            f"{_pct(row['gap'])}; {seconds['median']:.0f} s/epoch; {row['wall_h']:.2f} h")  # fmt: skip


def remaining(results: dict, plan=PLAN) -> list[dict]:
    """Per planned run not finished, in the plan's order: the epochs left and the hours they should take.

    The estimate is the variant's own pace so far: the median seconds per training image over its timed epochs
    (so an epoch on batches 1-5 costs 5/4 of one on batches 1-4), times the images left, times the share its
    runs spent beyond training (evaluation, saving). ``hours`` is None for a variant with no epoch yet. A
    median over every machine the epochs ran on: on another CPU the real time can differ twofold.
    """
    train_images = results.get("environment", {}).get("train_images", 50_000)
    share = {"batches 1-4": 0.8, "batches 1-5": 1.0}  # batch 5 is held out while training on batches 1-4
    rows = []
    for variant, seeds in plan:
        runs = [run for run in results["runs"].values() if run["variant"] == variant]
        timed = [(epoch["seconds"], share[epoch["images"]] * train_images)
                 for run in runs for epoch in run["history"] if "images" in epoch]  # fmt: skip
        per_image = statistics.median(s / n for s, n in timed) if timed else None
        trained = sum(epoch["seconds"] for run in runs for epoch in run["history"])
        overhead = max(1.0, sum(run["wall_s"] for run in runs) / trained) if trained else 1.0
        schedule = schedule_of(variant)
        epochs = min(results.get("epochs_override") or total_epochs(schedule), total_epochs(schedule))
        for seed in range(seeds):
            run = results["runs"].get(f"{variant}:{seed}")
            if run is not None and run["finished"]:
                continue
            done = len(run["history"]) if run else 0
            left = range(done + 1, epochs + 1)
            images = sum(share[phase_at(schedule, epoch).images] * train_images for epoch in left)
            hours = None if per_image is None else per_image * images * overhead / 3600
            rows.append(dict(variant=variant, seed=seed, epochs_done=done, epochs_left=len(left), hours=hours))
    return rows


def remaining_line(rows: list[dict]) -> str:
    """:func:`remaining` as a sentence."""
    if not rows:
        return "Left in the plan: nothing, every planned run has finished."
    parts = []
    for row in rows:
        epochs = row["epochs_done"] + row["epochs_left"]
        begun = f"{row['epochs_left']} of {epochs} epochs left" if row["epochs_done"] else f"{epochs} epochs"
        pace = "not timed yet" if row["hours"] is None else f"~{row['hours']:.1f} h"
        parts.append(f"{row['variant']} seed {row['seed']}: {begun}, {pace}")
    timed = [row["hours"] for row in rows if row["hours"] is not None]
    if not timed:  # no total: "about 0.0 h" would read as nothing left
        return f"Left in the plan: {'; '.join(parts)}."
    total = f"about {sum(timed):.1f} h at the pace so far"
    if len(timed) < len(rows):
        total += " and the runs not timed yet"
    return f"Left in the plan: {'; '.join(parts)}. In all {total}."


def compare(results: dict, base: str, other: str, which: str = "multiview") -> dict:
    """``other`` minus ``base`` in final test error (``which``: ``"centre"`` or ``"multiview"``) or in the
    train-test gap at the last epoch (``"gap"``: centre-crop test error minus training error, section 3.4's
    overfitting), paired by seed: the mean difference, each seed's, and whether it is inside the seed noise
    (|mean| no larger than the spread of either variant over its seeds). Only seeds both finished count."""
    if which not in ("centre", "multiview", "gap"):
        raise ValueError(f"which must be 'centre', 'multiview' or 'gap', not {which!r}")
    finals = {}
    for run in results["runs"].values():
        if run["finished"] and run["variant"] in (base, other):
            last = run["history"][-1]
            value = gap(last) if which == "gap" else run["final_test_error"][which]
            finals.setdefault(run["variant"], {})[run["seed"]] = value
    seeds = sorted(set(finals.get(base, {})) & set(finals.get(other, {})))
    diffs = [finals[other][s] - finals[base][s] for s in seeds]
    if not diffs:
        return dict(base=base, other=other, which=which, seeds=[], differences=[], mean=None, inside_noise=None)
    # The seed noise: the larger spread (max - min) of the two variants over all their finished seeds, and whose.
    spreads = [(max(v.values()) - min(v.values()), name, len(v))
               for name, v in ((base, finals[base]), (other, finals[other])) if len(v) > 1]  # fmt: skip
    noise, noise_variant, noise_seeds = max(spreads) if spreads else (None, None, 0)
    # A variant with one finished seed has no spread of its own: the noise above is the other variant's only.
    unmeasured = [name for name in (base, other) if len(finals[name]) == 1]
    mean = statistics.fmean(diffs)
    return dict(base=base, other=other, which=which, seeds=seeds, differences=diffs, mean=mean,
                std=statistics.stdev(diffs) if len(diffs) > 1 else None, noise=noise, noise_variant=noise_variant,
                noise_seeds=noise_seeds, inside_noise=None if noise is None else abs(mean) <= noise,
                unmeasured_noise=unmeasured)  # fmt: skip


def plot(results: dict, path: str | Path | None = None):
    """Left: test error per epoch of every run, one colour per variant (the data-range and rate changes marked).
    Right: the train-test gap per epoch (test error minus training error): how much each variant overfits."""
    import matplotlib.pyplot as plt

    fig, (ax_err, ax_gap) = plt.subplots(1, 2, figsize=(12, 4))
    variants = sorted({run["variant"] for run in results["runs"].values()})
    for run in results["runs"].values():
        colour = f"C{variants.index(run['variant'])}"
        epochs = [r["epoch"] for r in run["history"]]
        label = run["variant"] if run["seed"] == min(
            r["seed"] for r in results["runs"].values() if r["variant"] == run["variant"]) else None  # fmt: skip
        ax_err.plot(epochs, [r["test_error"] for r in run["history"]], color=colour, label=label, lw=1)
        ax_gap.plot(epochs, [gap(r) for r in run["history"]], color=colour, lw=1)
    last = max((len(run["history"]) for run in results["runs"].values()), default=0)
    boundaries = {sum(p.epochs for p in schedule_of(v)[: i + 1]) for v in variants for i in range(3)}
    boundaries = {b for b in boundaries if b < last}  # only the changes the runs have reached
    for ax in (ax_err, ax_gap):
        for b in sorted(boundaries):
            ax.axvline(b, color="grey", lw=0.6, ls=":")
    ax_err.set(xlabel="epoch", ylabel="test error (centre crop)", ylim=(0, None),
               title="test error per epoch" + (" (dotted: +batch 5, epsW/10, epsW/100)" if boundaries else ""))
    measured = all("train_eval_error" in r for run in results["runs"].values() for r in run["history"])
    ax_gap.set(xlabel="epoch", ylabel="test error - training error",
               title="train-test gap (training error: " + ("centre crops of 2,000 training images, at the epoch's end)"
                                                            if measured else "augmented crops, during the epoch)"))
    ax_err.legend(fontsize=9)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig


def _pct(spread: dict | None) -> str:
    if spread is None:
        return "-"
    if spread["min"] == spread["max"]:
        return f"{spread['median']:.1%}"
    return f"{spread['median']:.1%} ({spread['min']:.1%}-{spread['max']:.1%})"


def _hours(hours: float) -> str:
    """``6.1 h``, minutes below a tenth of an hour (a short run's compute is not "0.0 h"), ``-`` for none."""
    if hours == 0:
        return "-"
    return f"{hours:.1f} h" if hours >= 0.1 else f"{hours * 60:.1f} min"


def markdown_summary(results: dict, plan=None) -> str:
    """:func:`summary` as a Markdown table: one row per variant, medians and ranges over its finished seeds
    (``plan``: as :func:`summary`'s, a row for every planned variant)."""
    lines = ["| variant | runs finished | epochs done per run | test error, centre crop | multiview | train-test gap "
             "(last epoch) | s/epoch | compute |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for row in summary(results, plan):
        seconds = row["seconds_per_epoch"]
        per_epoch = f"{seconds['median']:.0f}" if seconds else "-"
        lines.append(f"| `{row['variant']}` | {row['seeds_finished']} of {row['runs']} | "
                     f"{', '.join(map(str, row['epochs_done'])) or 'not begun'} | {_pct(row['centre'])} | "
                     f"{_pct(row['multiview'])} | {_pct(row['gap'])} | {per_epoch} | "
                     f"{_hours(row['wall_h'])} |")  # fmt: skip
    device = results.get("environment", {}).get("device", "?")
    text = "\n".join(lines) + f"\n\nDevice: {device}. Medians over finished seeds, ranges in parentheses."
    machines = [(row["variant"], machine, seconds) for row in summary(results, plan)
                for machine, seconds in row["seconds_by_machine"].items() if machine != "unrecorded"]  # fmt: skip
    if machines:  # the same study resumed on different CPUs: epoch times differ with the machine
        text += " Median s/epoch by machine: " + "; ".join(
            f"`{variant}` {seconds:.0f} on {machine}" for variant, machine, seconds in machines) + "."
    return text


TURNS = {
    "13pct": (25, 50, 100, 140, 150, 160),
    "11pct": (25, 50, 100, 160, 250, 350, 400, 500, 510, 520),  # 100 and 160: where the 13pct nets turn and end
}  # the epochs :func:`curve_table` shows by default: each phase's end, and a few on the way


def curve_table(results: dict, runs: tuple[str, ...] | None = None, epochs: tuple[int, ...] | None = None,
                schedule: str = "13pct") -> str:
    """The curves at the schedule's turns as a Markdown table: per run (default: seed 0 of every variant on
    ``schedule``, "13pct" or "11pct"), training error / loss on the augmented crops, validation ("batch 5", while
    held out) and centre-crop test error at each of ``epochs`` (default ``TURNS[schedule]``); a run that has not
    reached an epoch shows ``-``. Every run must train on ``schedule``: the data and rate columns are its."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, not {schedule!r}")
    phases = SCHEDULES[schedule]
    if runs is None:
        runs = tuple(name for name, run in results["runs"].items()
                     if run["seed"] == 0 and schedule_of(run["variant"]) == phases)  # fmt: skip
    other = [name for name in runs if schedule_of(results["runs"][name]["variant"]) != phases]
    if other:
        raise ValueError(f"runs {other} do not train on the {schedule} schedule; pass schedule= theirs")
    epochs = TURNS[schedule] if epochs is None else epochs
    rates = {1.0: "epsW", 0.1: "epsW / 10", 0.01: "epsW / 100"}
    head = " | ".join(f"`{results['runs'][name]['variant']}` train error / loss / validation / test" for name in runs)
    lines = [f"| epoch | data | rate | {head} |", "| --- | --- | --- | " + " | ".join("---" for _ in runs) + " |"]
    for epoch in epochs:
        phase = phase_at(phases, epoch)
        cells = []
        for name in runs:
            history = results["runs"][name]["history"]
            if len(history) < epoch:
                cells.append("-")
                continue
            r = history[epoch - 1]
            val = f"{r['val_error']:.1%}" if "val_error" in r else "-"
            cells.append(f"{r['train_error']:.1%} / {r['train_loss']:.3f} / {val} / {r['test_error']:.1%}")
        lines.append(f"| {epoch} | {phase.images} | {rates.get(phase.lr_factor, phase.lr_factor)} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return "\n".join(lines)


def runs_table(results: dict, plan=PLAN) -> str:
    """Every run begun as a Markdown table, in the plan's order then by seed: its memory format, epochs done,
    final test errors, the median training seconds per epoch on each machine its epochs ran on (how many
    epochs each, in brackets; "unrecorded" for epochs from before machines were recorded) and its wall time."""
    rank = {variant: i for i, (variant, _) in enumerate(plan)}
    lines = ["| run | memory format | epochs | test error, centre / multiview | training s/epoch by machine [epochs] "
             "| wall time |", "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for run in sorted(results["runs"].values(), key=lambda r: (rank.get(r["variant"], len(rank)), r["variant"],
                                                                r["seed"])):  # fmt: skip
        machines = "; ".join(f"{statistics.median(seconds):.0f} on {machine} [{len(seconds)}]"
                             for machine, seconds in _epoch_seconds_by_machine([run]).items())  # fmt: skip
        final = run.get("final_test_error")
        errors = f"{final['centre']:.1%} / {final['multiview']:.1%}" if run["finished"] else "running"
        epochs = f"{len(run['history'])} of {run.get('epochs', total_epochs(schedule_of(run['variant'])))}"
        fmt = run.get("memory_format", "contiguous").replace("_", "-")  # as the CLI spells it
        lines.append(f"| `{run['variant']}` seed {run['seed']} | {fmt} | "
                     f"{epochs} | {errors} | {machines or '-'} | {run['wall_s'] / 3600:.2f} h |")  # fmt: skip
    return "\n".join(lines)


def comparison_line(result: dict) -> str:
    """:func:`compare` as a sentence."""
    measure = "train-test gap" if result["which"] == "gap" else f"{result['which']} test error"
    name = f"{result['other']} - {result['base']} ({measure})"
    if result["mean"] is None:
        return f"{name}: not measured yet (no seed has finished both)"
    seeds = len(result["seeds"])
    if result["inside_noise"] is None:
        verdict = "one seed: no noise estimate yet"
    else:  # the noise is a range over a few seeds: with two, a rough estimate
        rough = ": a rough estimate" if result["noise_seeds"] < 3 else ""
        verdict = (f"{'inside' if result['inside_noise'] else 'larger than'} the seed noise (the spread of "
                   f"{result['noise_variant']} over {result['noise_seeds']} seeds, {_points(result['noise'])}{rough})")
        for single in result.get("unmeasured_noise", ()):
            verdict += f"; {single} has one finished seed, so its own seed noise is not in that estimate"
    each = ", ".join(f"{d * 100:+.2f}" for d in result["differences"])
    over = f"on average over {seeds} seed{'s' * (seeds > 1)} ({each})"
    return f"{name}: {_points(result['mean'], sign=True)} {over}; {verdict}"


def _points(fraction: float, sign: bool = False) -> str:
    """A difference of error rates in percentage points: ``+0.22 points``."""
    return f"{fraction * 100:{'+' if sign else ''}.2f} points"
