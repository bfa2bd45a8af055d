fatalError("crm-tickets is not built yet")
