// Placeholder: replaced by the Gateway service implementation.
