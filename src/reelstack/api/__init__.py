"""HTTP concerns below the routes (functions/api/app.py): auth, throttling, health, playback of
private assets, the OpenAPI description. May use every service; nothing imports it."""
