"""The Flask side: the app factory, the caller's webhooks, the call-handler line, the
signature check, Twilio's request parsing and the shared helpers of every blueprint."""
