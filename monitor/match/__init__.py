"""Entity matching: normalisation, spelling variants, Aho-Corasick scan, context rules.

    from monitor.match import Matcher, EntityMatch, Mention
    matcher = Matcher.from_watchlist(watchlist)
    matcher.match(text)    # -> list[EntityMatch], ordered by first mention
    matcher.explain(text)  # -> list[Explanation], for `monitor match --explain`
"""

from monitor.match.matcher import EntityMatch, Explanation, Matcher, Mention

__all__ = ["EntityMatch", "Explanation", "Matcher", "Mention"]
