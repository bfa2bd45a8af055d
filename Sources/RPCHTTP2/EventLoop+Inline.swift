import NIOCore

extension EventLoop {
    /// Runs `body` on this loop: at once when the caller is already on it (a handler task, or a call
    /// made from one), otherwise queued in order behind the loop's other work.
    func runOnLoop(_ body: @escaping @Sendable () -> Void) {
        if inEventLoop { body() } else { execute(body) }
    }
}
