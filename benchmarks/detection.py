"""Detection quality: precision, recall and F1 per entity and micro-averaged.

Usage: python benchmarks/detection.py [--watchlist config/watchlist.yaml] [--errors]

Scores the matcher on the shared evaluation corpus (../shared/data/detection/
dev.jsonl, read in place, never copied) and on our own passages
(tests/data/detection_passages.jsonl). A passage counts as a true positive for
an entity when the matcher reports the entity and the annotation lists it
(document-level, like the alerts: one alert per article and entity).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.match import Matcher  # noqa: E402
from monitor.config.watchlist import load_watchlist  # noqa: E402

SHARED_DEV = REPO.parent / "shared" / "data" / "detection" / "dev.jsonl"
OWN_SET = REPO / "tests" / "data" / "detection_passages.jsonl"


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(matcher: Matcher, records: list[dict], show_errors: bool = False) -> tuple[dict, Counter, Counter, Counter]:
    tp, fp, fn = Counter(), Counter(), Counter()
    for rec in records:
        gold = set(rec["entities"])
        found = {m.entity_id for m in matcher.match(rec["text"])}
        for e in found & gold:
            tp[e] += 1
        for e in found - gold:
            fp[e] += 1
        for e in gold - found:
            fn[e] += 1
        if show_errors and found != gold:
            print(f"  {rec['id']} ({rec.get('lang', '?')}): missed {sorted(gold - found)} extra {sorted(found - gold)}")
            if found - gold:
                for x in matcher.explain(rec["text"]):
                    if x.accepted and x.entity_id in found - gold:
                        print(f"      {x}")
    entities = sorted(set(tp) | set(fp) | set(fn))
    rows = {e: prf(tp[e], fp[e], fn[e]) for e in entities}
    rows["MICRO"] = prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return rows, tp, fp, fn


def prf(tp: int, fp: int, fn: int) -> tuple[int, int, int, float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return tp, fp, fn, p, r, f


def print_table(title: str, rows: dict) -> None:
    print(f"\n{title}")
    print(f"{'entity':<30} {'TP':>4} {'FP':>4} {'FN':>4} {'P':>6} {'R':>6} {'F1':>6}")
    for name, (tp, fp, fn, p, r, f) in rows.items():
        if name == "MICRO":
            print("-" * 66)
        print(f"{name:<30} {tp:>4} {fp:>4} {fn:>4} {p:>6.3f} {r:>6.3f} {f:>6.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchlist", type=Path, default=REPO / "config" / "watchlist.yaml")
    parser.add_argument("--errors", action="store_true", help="list every passage the matcher gets wrong")
    args = parser.parse_args()
    matcher = Matcher.from_watchlist(load_watchlist(args.watchlist))
    sets = [("shared dev set", SHARED_DEV), ("own passages (tests/data)", OWN_SET)]
    for title, path in sets:
        if not path.exists():
            print(f"\n{title}: {path} not found, skipped")
            continue
        records = load_jsonl(path)
        if args.errors:
            print(f"\nerrors in {title}:")
        rows, *_ = score(matcher, records, args.errors)
        print_table(f"{title}: {len(records)} passages ({path})", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
