"""The search indexer: a separate process that drains `search_outbox` into Meilisearch.

`documents` builds search documents from the current rows, `outbox` claims and
settles outbox rows, `indexes` talks to Meilisearch (index settings from
`config/search_index.json`), `indexer` is the loop, `maintenance` the operator
work (reindex, drift check, status) and `cli` the `search-indexer` command.
"""
