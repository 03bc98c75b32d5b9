using Microsoft.Extensions.Logging;

namespace Shoal.Agent.Logs;

// Event ids 6800–6849: the agent's log publishing.
public sealed partial class LogAgent
{
    [LoggerMessage(EventId = 6800, Level = LogLevel.Debug, Message = "Listening for log subscriptions on manager {Manager}")]
    private static partial void LogListening(ILogger logger, string manager);

    [LoggerMessage(EventId = 6801, Level = LogLevel.Warning, Message = "Listening for log subscriptions on manager {Manager} failed: {Reason}; listening again")]
    private static partial void LogListenFailed(ILogger logger, string manager, string reason);

    [LoggerMessage(EventId = 6810, Level = LogLevel.Debug, Message = "Serving log subscription {SubscriptionId}: {Tasks} tasks, follow {Follow}")]
    private static partial void LogServing(ILogger logger, string subscriptionId, int tasks, bool follow);

    [LoggerMessage(EventId = 6811, Level = LogLevel.Debug, Message = "Log subscription {SubscriptionId} is gone: {Reason}")]
    private static partial void LogSubscriptionGone(ILogger logger, string subscriptionId, string reason);

    [LoggerMessage(EventId = 6812, Level = LogLevel.Warning, Message = "Log subscription {SubscriptionId} failed: {Reason}; its client gets no more lines from this node")]
    private static partial void LogServeFailed(ILogger logger, string subscriptionId, string reason);

    [LoggerMessage(EventId = 6813, Level = LogLevel.Warning, Message = "Log subscription {SubscriptionId} named \"{TaskId}\", which is not a task ID; it is ignored")]
    private static partial void LogBadTaskId(ILogger logger, string subscriptionId, string taskId);
}
