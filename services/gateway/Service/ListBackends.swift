import CRMProto
import RPCCore

/// Backend health as the gateway sees it, probed fresh for the asker (crm-admin health).
extension GatewayHandler {
    func listBackends(_ request: Crm_Gateway_V1_ListBackendsRequest, context: ServerContext) async throws
        -> Crm_Gateway_V1_ListBackendsResponse {
        _ = try principal(context)
        return Crm_Gateway_V1_ListBackendsResponse(backends: await backends.probeAll())
    }
}
