"""Detection quality: precision, recall and F1 per entity, per language and micro-averaged.

Usage: python benchmarks/detection.py [--watchlist FILE] [--set NAME=PATH ...] [--summary]
                                      [--errors | --misses-by-kind]

Scores the matcher on the shared evaluation corpus (../shared/data/detection/
dev.jsonl, read in place, never copied), on the held-out set written blind to
the rules (tests/data/heldout_passages.jsonl), on our own passages
(tests/data/detection_passages.jsonl) and on the blind multilingual set
(tests/data/multilingual/*.jsonl) when it is there. A passage counts as a true
positive for an entity when the matcher reports the entity and the annotation
lists it (document-level, like the alerts: one alert per article and entity).

--misses-by-kind counts misses and false alarms per entity and language without
printing any passage: for sets that must stay blind to whoever tunes the rules.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.config.watchlist import InflectionRule, Watchlist, load_watchlist  # noqa: E402
from monitor.match import Matcher  # noqa: E402

SHARED_DEV = REPO.parent / "shared" / "data" / "detection" / "dev.jsonl"
HELDOUT = REPO / "tests" / "data" / "heldout_passages.jsonl"
OWN_SET = REPO / "tests" / "data" / "detection_passages.jsonl"
MULTILINGUAL = REPO / "tests" / "data" / "multilingual"

Row = tuple[int, int, int, float, float, float]


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def default_sets() -> list[tuple[str, list[Path]]]:
    sets = [("shared dev", [SHARED_DEV]), ("held-out", [HELDOUT]), ("own passages", [OWN_SET])]
    multilingual = sorted(MULTILINGUAL.glob("*.jsonl")) if MULTILINGUAL.is_dir() else []
    if multilingual:
        sets.append(("blind multilingual", multilingual))
    return sets


class Score:
    """Counts of one set: per entity and per language."""

    def __init__(self) -> None:
        self.tp, self.fp, self.fn = Counter(), Counter(), Counter()
        self.lang_tp, self.lang_fp, self.lang_fn = Counter(), Counter(), Counter()
        self.passages = Counter()
        self.missed, self.extra = Counter(), Counter()  # (entity, language)

    def add(self, lang: str, gold: set[str], found: set[str]) -> None:
        self.passages[lang] += 1
        for kind, entities, by_lang in (
            (self.tp, found & gold, self.lang_tp),
            (self.fp, found - gold, self.lang_fp),
            (self.fn, gold - found, self.lang_fn),
        ):
            for e in entities:
                kind[e] += 1
                by_lang[lang] += 1
        self.missed.update((e, lang) for e in gold - found)
        self.extra.update((e, lang) for e in found - gold)

    def entity_rows(self) -> dict[str, Row]:
        entities = sorted(set(self.tp) | set(self.fp) | set(self.fn))
        return {e: prf(self.tp[e], self.fp[e], self.fn[e]) for e in entities}

    def language_rows(self) -> dict[str, Row]:
        return {lang: prf(self.lang_tp[lang], self.lang_fp[lang], self.lang_fn[lang]) for lang in sorted(self.passages)}

    def micro(self) -> Row:
        return prf(sum(self.tp.values()), sum(self.fp.values()), sum(self.fn.values()))


def score(matcher: Matcher, records: list[dict], show_errors: bool = False) -> Score:
    result = Score()
    for rec in records:
        gold = set(rec["entities"])
        found = {m.entity_id for m in matcher.match(rec["text"])}
        result.add(rec.get("lang", "?"), gold, found)
        if show_errors and found != gold:
            print(f"  {rec['id']} ({rec.get('lang', '?')}): missed {sorted(gold - found)} extra {sorted(found - gold)}")
            for x in matcher.explain(rec["text"]):
                if x.accepted and x.entity_id in found - gold:
                    print(f"      {x}")
    return result


def prf(tp: int, fp: int, fn: int) -> Row:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return tp, fp, fn, p, r, f


def print_table(title: str, rows: dict[str, Row], micro: Row, label: str = "entity") -> None:
    print(f"\n{title}")
    print(f"{label:<30} {'TP':>4} {'FP':>4} {'FN':>4} {'P':>6} {'R':>6} {'F1':>6}")
    for name, (tp, fp, fn, p, r, f) in [*rows.items(), ("MICRO", micro)]:
        if name == "MICRO":
            print("-" * 66)
        print(f"{name:<30} {tp:>4} {fp:>4} {fn:>4} {p:>6.3f} {r:>6.3f} {f:>6.3f}")


def print_misses_by_kind(result: Score) -> None:
    """Which entity in which language is missed or falsely found, counts only (no passage text)."""
    for title, counts in (("misses", result.missed), ("false alarms", result.extra)):
        listed = ", ".join(f"{e}/{lang} {n}" for (e, lang), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        print(f"  {title} (entity/language count): {listed or 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchlist", type=Path, default=REPO / "config" / "watchlist.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=PATH", help="score this file too")
    parser.add_argument("--only", action="append", default=[], help="score only the sets with these names")
    parser.add_argument("--summary", action="store_true", help="one line per set: micro P/R, weakest entity and language")
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        choices=["inflection", "transliteration", "nospace-scan", "places", "roles"],
        help="switch a mechanism off, to measure what it adds",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--errors", action="store_true", help="list every passage the matcher gets wrong")
    group.add_argument("--misses-by-kind", action="store_true", help="count misses per entity (blind sets)")
    args = parser.parse_args()
    matcher = Matcher.from_watchlist(without(load_watchlist(args.watchlist), args.without))
    sets = default_sets() + [(name, [Path(path)]) for name, _, path in (s.partition("=") for s in args.set)]
    if args.only:
        sets = [(name, paths) for name, paths in sets if name in args.only]
    for title, paths in sets:
        missing = [p for p in paths if not p.exists()]
        if missing:
            print(f"\n{title}: {missing[0]} not found, skipped")
            continue
        records = [rec for path in paths for rec in load_jsonl(path)]
        if args.errors:
            print(f"\nerrors in {title}:")
        result = score(matcher, records, args.errors)
        langs = result.language_rows()
        if args.summary:
            tp, fp, fn, p, r, _ = result.micro()
            worst_entity = min(result.entity_rows().items(), key=lambda kv: min(kv[1][3], kv[1][4]), default=None)
            worst_lang = min(langs.items(), key=lambda kv: min(kv[1][3], kv[1][4]), default=None)
            print(
                f"{title:<20} {len(records):>4} passages {len(langs):>2} languages  P {p:.3f} R {r:.3f} "
                f"(TP {tp} FP {fp} FN {fn})  weakest entity: {_weak(worst_entity)}  weakest language: {_weak(worst_lang)}"
            )
        else:
            where = ", ".join(str(p) for p in paths)
            print_table(f"{title}: {len(records)} passages ({where})", result.entity_rows(), result.micro())
            print_table(f"{title}, per language", langs, result.micro(), label="language")
        if args.misses_by_kind:
            print_misses_by_kind(result)
    return 0


def without(watchlist: Watchlist, mechanisms: list[str]) -> Watchlist:
    """The watchlist (and matcher module) with these mechanisms switched off, for ablation runs."""
    from monitor.match import matcher as matcher_module

    if "inflection" in mechanisms:
        watchlist = watchlist.model_copy(update={"inflection": InflectionRule(enabled=False)})
    if "places" in mechanisms:
        entities = [e.model_copy(update={"places": []}) for e in watchlist.entities]
        watchlist = watchlist.model_copy(update={"entities": entities, "bases": None})
    if "roles" in mechanisms:
        entities = [e.model_copy(update={"roles": []}) for e in watchlist.entities]
        watchlist = watchlist.model_copy(update={"entities": entities})
    if "transliteration" in mechanisms:
        matcher_module.transliterate = lambda scan: None
    if "nospace-scan" in mechanisms:
        matcher_module._blank_nospace_scripts = lambda scan: None
    return watchlist


def _weak(item: tuple[str, Row] | None) -> str:
    if item is None:
        return "-"
    name, (_, _, _, p, r, _) = item
    return f"{name} P {p:.2f} R {r:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
