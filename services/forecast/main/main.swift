fatalError("crm-forecast is not built yet")
