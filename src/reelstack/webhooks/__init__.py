"""Webhooks: owners' endpoints, Standard Webhooks signatures, deliveries retried for a day."""
