"""The Flask side: the app factory, the webhooks, and what every blueprint shares.

The caller's webhooks, the call-handler line, the signature check and Twilio's request parsing.
"""
