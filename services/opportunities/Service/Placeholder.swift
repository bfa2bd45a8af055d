// Placeholder: replaced by the Opportunities service implementation.
