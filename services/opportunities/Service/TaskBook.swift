import GRDB
import ServiceRuntime

/// R6: every next step becomes a task for its owner. The helpers every write path shares for
/// creating tasks and keeping an opportunity's "next action" (line 3) pointed at an open task.
enum TaskBook {
    static func newTask(owner: String, team: String, title: String, notes: String = "", dueMs: Int64,
                        origin: TaskOrigin, opportunityID: String = "", customerID: String = "",
                        followUpID: String = "", _ c: WriteContext) -> TaskItem {
        TaskItem(id: RecordID.make("task", nowMs: c.now), version: 1, ownerId: owner, teamId: team, title: title,
                 notes: notes, dueMs: dueMs, status: .open, origin: origin, opportunityId: opportunityID,
                 customerId: customerID, followUpId: followUpID, createdAtMs: c.now, updatedAtMs: c.now)
    }

    /// The opportunity's next action is now `task`.
    static func makeNextStep(_ task: TaskItem, of o: inout Opportunity) {
        o.nextStep = task.title
        o.nextStepDueMs = task.dueMs
        o.nextStepTaskId = task.id
    }

    /// After the next-step task was completed: the earliest other open task becomes the next action
    /// (false when there is none).
    static func promoteNextOpenTask(of o: inout Opportunity, _ c: WriteContext) throws -> Bool {
        guard let next = try TaskTable.open(c.db, opportunityID: o.id).first else {
            o.nextStep = ""
            o.nextStepDueMs = 0
            o.nextStepTaskId = ""
            return false
        }
        makeNextStep(next, of: &o)
        return true
    }

    /// Completes a task with a note (used when a follow-up or a close supersedes it).
    static func complete(_ task: inout TaskItem, note: String, _ c: WriteContext) throws {
        task.status = .done
        task.completedAtMs = c.now
        task.completionNote = note
        task.version += 1
        task.updatedAtMs = c.now
        try TaskTable.save(c.db, task)
    }

    /// A closed deal has no next action: its open tasks are completed with `note`.
    static func closeAll(of o: inout Opportunity, note: String, _ c: WriteContext) throws {
        for var task in try TaskTable.open(c.db, opportunityID: o.id) {
            try complete(&task, note: note, c)
        }
        o.nextStep = ""
        o.nextStepDueMs = 0
        o.nextStepTaskId = ""
    }
}
