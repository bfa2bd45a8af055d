import CRMProto
import GRDB
import RPCCore
import ServiceRuntime

extension OpportunityService {
    static let taskScope = "CreateTask"

    /// R6: a task created directly; `make_next_step` makes it the opportunity's next action.
    public func createTask(_ request: Crm_Opportunities_V1_CreateTaskRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_CreateTaskResponse {
        try await guarded {
            let caller = try Access.user(context)
            let now = clock.nowMs()
            var errors = FieldErrors()
            errors.maxLength("request_id", request.requestId, 200)
            let title = errors.require("title", request.title)
            errors.maxLength("title", title, 1000)
            errors.maxLength("notes", request.notes, 8000)
            if request.dueMs <= 0 { errors.add("due_ms", "required (when the task is due)") }
            if request.makeNextStep && request.opportunityId.isBlank {
                errors.add("opportunity_id", "required with make_next_step")
            }
            try errors.throwIfAny()
            let owner = request.ownerId.isBlank ? caller.userID : request.ownerId.trimmed
            if owner != caller.userID { try caller.requireManager("creating a task for someone else") }
            let isReplay = try await store.read { db in try Self.isStored(db, scope: Self.taskScope, requestID: request.requestId) }
            let team = isReplay ? caller.team : try await ownerTeam(owner, caller: caller)

            let response = try await store.write { db -> Crm_Opportunities_V1_CreateTaskResponse in
                let (stored, replayed) = try Idempotency.run(
                    db, scope: Self.taskScope, requestID: request.requestId, request: request, nowMs: now
                ) { () throws -> Crm_Opportunities_V1_CreateTaskResponse in
                    let c = writeContext(db, now: now, caller: caller, requestID: request.requestId)
                    var opportunity: Opportunity?
                    if !request.opportunityId.isBlank {
                        let o = try Access.visibleOpportunity(db, id: request.opportunityId.trimmed, caller: caller)
                        try Self.requireOpen(o)
                        if !request.customerId.isBlank && request.customerId.trimmed != o.customerId {
                            throw RPCError(.invalidArgument, "customer_id: opportunity \(o.id) belongs to customer \(o.customerId)")
                        }
                        opportunity = o
                    }
                    let task = TaskBook.newTask(
                        owner: owner, team: team, title: title, notes: request.notes.trimmed, dueMs: request.dueMs,
                        origin: .manual, opportunityID: opportunity?.id ?? "",
                        customerID: opportunity?.customerId ?? request.customerId.trimmed, c)
                    try TaskTable.save(db, task)
                    if request.makeNextStep, var o = opportunity {
                        TaskBook.makeNextStep(task, of: &o)
                        try OpportunityWrite.commit(&o, settings: try SettingsStore.load(db), c)
                    }
                    return .init(task: task)
                }
                var response = stored
                response.replayed = replayed
                return response
            }
            relay?.wake()
            return response
        }
    }

    /// R6: complete a task. Completing the current next step of an open deal needs the new next step
    /// (line 3: always a next action) unless another open task can take its place.
    public func completeTask(_ request: Crm_Opportunities_V1_CompleteTaskRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_CompleteTaskResponse {
        try await guarded {
            let caller = try Access.user(context)
            var errors = FieldErrors()
            errors.require("task_id", request.taskId)
            if request.version <= 0 { errors.add("version", "required (the version this change applies to)") }
            errors.maxLength("note", request.note, 4000)
            errors.maxLength("next_step", request.nextStep, 1000)
            if !request.nextStep.isBlank && request.nextStepDueMs <= 0 { errors.add("next_step_due_ms", "required with next_step") }
            if request.nextStep.isBlank && request.nextStepDueMs > 0 { errors.add("next_step", "required with next_step_due_ms") }
            try errors.throwIfAny()
            let now = clock.nowMs()
            let response = try await store.write { db -> Crm_Opportunities_V1_CompleteTaskResponse in
                let c = writeContext(db, now: now, caller: caller)
                var task = try Access.visibleTask(db, id: request.taskId, caller: caller)
                try Access.requireVersion(request.version, current: task.version, of: "task \(task.id)")
                guard task.status == .open else { throw RPCError(.failedPrecondition, "task \(task.id) is already done") }
                try TaskBook.complete(&task, note: request.note.trimmed, c)

                var response = Crm_Opportunities_V1_CompleteTaskResponse(task: task)
                guard !task.opportunityId.isEmpty, var o = try OpportunityTable.find(db, id: task.opportunityId),
                      o.status == .open else {
                    return response
                }
                if !request.nextStep.isBlank {
                    let next = TaskBook.newTask(
                        owner: o.ownerId, team: o.teamId, title: request.nextStep.trimmed, dueMs: request.nextStepDueMs,
                        origin: .taskCompleted, opportunityID: o.id, customerID: o.customerId, c)
                    try TaskTable.save(db, next)
                    TaskBook.makeNextStep(next, of: &o)
                    response.nextTask = next
                } else if o.nextStepTaskId == task.id {
                    guard try TaskBook.promoteNextOpenTask(of: &o, c) else {
                        throw RPCError(.failedPrecondition, "task \(task.id) is the next step of opportunity \(o.id); completing it needs the new next_step and next_step_due_ms (every open deal has a next action)")
                    }
                }
                OpportunityWrite.noteAction(&o, at: now)
                try OpportunityWrite.commit(&o, settings: try SettingsStore.load(db), c)
                return response
            }
            return response
        }
    }

    /// R6: move a task's due time, with a reason (counted: chronic rescheduling is a signal).
    public func rescheduleTask(_ request: Crm_Opportunities_V1_RescheduleTaskRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_RescheduleTaskResponse {
        try await guarded {
            let caller = try Access.user(context)
            var errors = FieldErrors()
            errors.require("task_id", request.taskId)
            if request.version <= 0 { errors.add("version", "required (the version this change applies to)") }
            if request.dueMs <= 0 { errors.add("due_ms", "required (the new due time)") }
            errors.require("reason", request.reason)
            errors.maxLength("reason", request.reason, 2000)
            try errors.throwIfAny()
            let now = clock.nowMs()
            let task = try await store.write { db -> TaskItem in
                let c = writeContext(db, now: now, caller: caller)
                var task = try Access.visibleTask(db, id: request.taskId, caller: caller)
                try Access.requireVersion(request.version, current: task.version, of: "task \(task.id)")
                guard task.status == .open else { throw RPCError(.failedPrecondition, "task \(task.id) is done; it cannot be rescheduled") }
                task.dueMs = request.dueMs
                task.rescheduleCount += 1
                task.lastRescheduleReason = request.reason.trimmed
                task.version += 1
                task.updatedAtMs = now
                try TaskTable.save(db, task)
                if !task.opportunityId.isEmpty, var o = try OpportunityTable.find(db, id: task.opportunityId),
                   o.nextStepTaskId == task.id {
                    TaskBook.makeNextStep(task, of: &o)
                    try OpportunityWrite.commit(&o, settings: try SettingsStore.load(db), c)
                }
                return task
            }
            return .init(task: task)
        }
    }

    /// R6: the owner's open tasks due before `until_ms` (default: end of today, UTC), overdue first.
    public func listDue(_ request: Crm_Opportunities_V1_ListDueRequest, context: ServerContext) async throws
        -> Crm_Opportunities_V1_ListDueResponse {
        try await guarded {
            let caller = try Access.user(context)
            let pageSize = try PageToken.pageSize(request.pageSize)
            let cursor = try PageToken.decode(request.pageToken, parts: 2).map { parts -> (Int64, String) in
                guard let due = Int64(parts[0]) else { throw RPCError(.invalidArgument, "page_token: malformed") }
                return (due, parts[1])
            }
            let scope = try Scope.resolve(owner: request.ownerId, team: request.teamId, caller: caller, what: "tasks", defaultToCaller: true)
            let now = clock.nowMs()
            let until = request.untilMs > 0 ? request.untilMs : CivilDate(utcDayOf: now).startMs &+ Millis.day
            return try await store.read { db in
                var conditions = Conditions()
                conditions.add("t.status = ?", [TaskStatus.open.rawValue])
                conditions.add(Access.visibilityCondition(caller, alias: "t"))
                scope.apply(to: &conditions, alias: "t")
                conditions.add("t.due_ms < ?", [request.overdueOnly ? min(now, until) : until])
                if let (due, id) = cursor { conditions.add("(t.due_ms > ? OR (t.due_ms = ? AND t.id > ?))", [due, due, id]) }
                let rows = try Row.fetchAll(db, sql: """
                    SELECT t.record, o.title AS opportunity_title, COALESCE(o.customer_name, '') AS customer_name
                    FROM tasks t LEFT JOIN opportunities o ON o.id = t.opportunity_id
                    WHERE \(conditions.sql) ORDER BY t.due_ms, t.id LIMIT ?
                    """, arguments: conditions.arguments + [pageSize + 1])
                let items = try rows.prefix(pageSize).map { row -> Crm_Opportunities_V1_DueTask in
                    let task = try decode(TaskItem.self, row)
                    let overdueBy = now &- task.dueMs
                    return .init(task: task, overdue: overdueBy > 0, overdueByMs: max(0, overdueBy),
                                 opportunityTitle: row["opportunity_title"] ?? "", customerName: row["customer_name"] ?? "")
                }
                let next = rows.count > pageSize ? items.last?.task.map { PageToken.encode([String($0.dueMs), $0.id]) } : nil
                return .init(tasks: items, nextPageToken: next ?? "")
            }
        }
    }
}
