// Placeholder: replaced by the Leads service implementation.
