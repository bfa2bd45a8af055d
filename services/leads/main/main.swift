fatalError("crm-leads is not built yet")
