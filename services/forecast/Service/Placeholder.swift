// Placeholder: replaced by the Forecast service implementation.
