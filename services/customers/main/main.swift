fatalError("crm-customers is not built yet")
