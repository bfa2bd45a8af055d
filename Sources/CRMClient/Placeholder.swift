// Placeholder: replaced by the typed client.
