fatalError("crm-gateway is not built yet")
