"""Presigned multipart uploads: pure rules (rules), the S3 protocol (multipart) and the service the
routes call with parsed requests (service)."""
