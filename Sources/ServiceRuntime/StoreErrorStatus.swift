import CRMStore
import GRDB
import ProtoWire
import RPCCore

/// Storage and decoding failures a handler let through, as the status a client can act on,
/// instead of a bare INTERNAL.
public enum StoreErrorStatus {
    public static func status(for error: any Error) -> RPCError? {
        switch error {
        case let error as DatabaseError:
            switch error.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return RPCError(.unavailable, "the store is busy; retry")
            case .SQLITE_CONSTRAINT:
                return RPCError(.aborted, "a concurrent change conflicts with this one; retry")
            case .SQLITE_FULL:
                return RPCError(.resourceExhausted, "the store's disk is full")
            case .SQLITE_READONLY, .SQLITE_IOERR, .SQLITE_CANTOPEN:
                return RPCError(.unavailable, "the store cannot be written: \(error.resultCode)")
            case .SQLITE_CORRUPT, .SQLITE_NOTADB:
                return RPCError(.dataLoss, "the store is damaged: \(error.resultCode)")
            default:
                return nil
            }
        case let error as ProtoDecodingError:
            return RPCError(.invalidArgument, "\(error)")
        case let error as StoreError:
            return RPCError(.failedPrecondition, "\(error)")
        default:
            return nil
        }
    }
}
