"""Push notifications through SNS mobile push: phones (devices) and what they are told (notices)."""
