"""Guards around the model: input hygiene now; PII redaction, toxicity and injection checks build here."""
