"""ivr101: the UK police 101 telephone menu as Twilio voice webhooks."""
