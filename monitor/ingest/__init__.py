"""Getting articles in: the guarded HTTP client, feed parsing, page-text extraction and item identity."""
