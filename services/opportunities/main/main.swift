fatalError("crm-opportunities is not built yet")
