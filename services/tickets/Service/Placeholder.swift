// Placeholder: replaced by the Tickets service implementation.
