import NIOCore

/// Runs the handler tasks of one connection on the connection's own event loop.
///
/// Without it each call hops from the event loop to Swift's cooperative pool to start its handler,
/// and back to write the answer: two thread switches and wake-ups per call, the largest single cost
/// of a small unary call. Handlers must therefore not block for long: a point read by key runs
/// inline (CRMStore's `readHere`), anything longer goes through GRDB's queues, and awaiting it
/// frees the loop.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
