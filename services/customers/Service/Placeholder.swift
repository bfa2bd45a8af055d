// Placeholder: replaced by the Customers service implementation.
