"""The Twilio account: numbers, queues and the signature round trip over Twilio's REST API."""
