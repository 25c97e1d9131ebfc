from monitor.ingest.identity import canonical_url, content_hash


def test_tracking_parameters_and_fragment_are_dropped():
    a = canonical_url("https://www.Example.org/world/iraq-base/?utm_source=rss&utm_medium=feed&id=7#comments")
    b = canonical_url("https://example.org:443/world/iraq-base?id=7")
    assert a == b == "https://example.org/world/iraq-base?id=7"


def test_meaningful_query_parameters_are_kept_and_ordered():
    assert canonical_url("http://example.org/a?b=2&a=1") == canonical_url("http://example.org/a?a=1&b=2")
    assert canonical_url("http://example.org/a?a=1") != canonical_url("http://example.org/a?a=2")


def test_unparseable_url_is_returned_as_is():
    assert canonical_url("http://[broken") == "http://[broken"


def test_content_hash_ignores_whitespace_case_and_punctuation_noise():
    assert content_hash("Rockets hit Camp Taji", "Two rockets  struck the base.") == content_hash(
        "rockets hit camp taji", "Two rockets struck the base"
    )
    assert content_hash("Rockets hit Camp Taji", "Two rockets") != content_hash("Rockets hit Camp Taji", "Three rockets")
