import CRMProto

// Short names for the generated contract types this service works with, so rules read like the
// product text ("an Opportunity enters Stage.quote") instead of like generated code.

typealias Opportunity = Crm_Opportunities_V1_Opportunity
typealias Stage = Crm_Opportunities_V1_Stage
typealias OpportunityStatus = Crm_Opportunities_V1_OpportunityStatus
typealias StageFacts = Crm_Opportunities_V1_StageFacts
typealias StageChange = Crm_Opportunities_V1_StageChange
typealias FollowUp = Crm_Opportunities_V1_FollowUp
typealias ActivityType = Crm_Opportunities_V1_ActivityType
typealias TaskItem = Crm_Opportunities_V1_TaskItem
typealias TaskStatus = Crm_Opportunities_V1_TaskStatus
typealias TaskOrigin = Crm_Opportunities_V1_TaskOrigin
typealias Risk = Crm_Opportunities_V1_Risk
typealias RiskLevel = Crm_Opportunities_V1_RiskLevel
typealias RiskKind = Crm_Opportunities_V1_RiskKind
typealias RiskReason = Crm_Opportunities_V1_RiskReason
typealias RiskSnooze = Crm_Opportunities_V1_RiskSnooze
typealias RiskFlagRecord = Crm_Opportunities_V1_RiskFlagRecord
typealias LossReview = Crm_Opportunities_V1_LossReview
typealias OpportunitySettings = Crm_Opportunities_V1_OpportunitySettings
typealias Event = Crm_Events_V1_Event
typealias EventKind = Crm_Events_V1_EventKind
