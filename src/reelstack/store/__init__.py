"""Storage: DynamoDB records and the one conditional write (records), the asset life cycle (states,
assets), keys and objects in the buckets (keys, objects), the contract's view of an asset (views) and
the event schema on SNS (events). Knows nothing of media, uploads or the pipeline."""
