"""Drawing the pipeline: presentation, kept out of the domain package that every function ships.
Only the API function (through WebLayer, for the web page's graph) and the CLI carry it."""
