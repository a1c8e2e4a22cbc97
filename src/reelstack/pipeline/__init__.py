"""The pipeline: the job (job), how an object starts an execution (ingest), one function per Task
state (steps), publishing while encoding (progressive), how failures reach the asset (failures), fault
switches for tests (faults), and reading the ASL and an execution's states (asl, execution). Uses media
and store; drawing them is reelstack_draw's."""
