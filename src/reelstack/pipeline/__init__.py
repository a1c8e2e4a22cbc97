"""The pipeline: the job (job), how an object starts an execution (ingest), one function per Task
state (steps), how failures reach the asset (failures), fault switches for tests (faults), and the
execution drawn from its ASL (diagram, report). Uses media and store."""
