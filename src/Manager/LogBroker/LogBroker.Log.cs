using Microsoft.Extensions.Logging;

namespace Shoal.Manager.LogBroker;

// Event ids 5800–5849: the log broker.
public sealed partial class LogBroker
{
    [LoggerMessage(EventId = 5800, Level = LogLevel.Information, Message = "Log broker started")]
    private static partial void LogStarted(ILogger logger);

    [LoggerMessage(EventId = 5801, Level = LogLevel.Information, Message = "Log broker stopped")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(EventId = 5810, Level = LogLevel.Debug, Message = "Log subscription {SubscriptionId} opened: {Tasks} tasks on {Nodes} nodes, follow {Follow}")]
    private static partial void LogSubscribed(ILogger logger, string subscriptionId, int tasks, int nodes, bool follow);

    [LoggerMessage(EventId = 5811, Level = LogLevel.Debug, Message = "Log subscription {SubscriptionId} ended")]
    private static partial void LogUnsubscribed(ILogger logger, string subscriptionId);

    [LoggerMessage(EventId = 5812, Level = LogLevel.Information, Message = "Log subscription {SubscriptionId} goes on without node {NodeId}: {Reason}")]
    private static partial void LogNodeSkipped(ILogger logger, string subscriptionId, string nodeId, string reason);

    [LoggerMessage(EventId = 5815, Level = LogLevel.Information, Message = "Log subscription {SubscriptionId} goes on without node {NodeId}: it did not listen for subscriptions within {TimeoutSeconds} s")]
    private static partial void LogNodeNotListening(ILogger logger, string subscriptionId, string nodeId, double timeoutSeconds);

    [LoggerMessage(EventId = 5816, Level = LogLevel.Warning, Message = "Log subscription {SubscriptionId} goes on without node {NodeId}: it sent nothing for {TimeoutSeconds} s and did not close")]
    private static partial void LogNodeSilent(ILogger logger, string subscriptionId, string nodeId, double timeoutSeconds);

    [LoggerMessage(EventId = 5813, Level = LogLevel.Warning, Message = "Log subscription {SubscriptionId} ended: its client did not take buffered lines within {TimeoutSeconds} s")]
    private static partial void LogClientTooSlow(ILogger logger, string subscriptionId, double timeoutSeconds);

    [LoggerMessage(EventId = 5814, Level = LogLevel.Warning, Message = "Log subscription {SubscriptionId} fell behind the store; tasks assigned from now on are not followed")]
    private static partial void LogFollowOverflow(ILogger logger, string subscriptionId);

    [LoggerMessage(EventId = 5820, Level = LogLevel.Debug, Message = "Node {NodeId} listens for log subscriptions")]
    private static partial void LogListening(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 5821, Level = LogLevel.Debug, Message = "Node {NodeId} stopped listening for log subscriptions")]
    private static partial void LogListenerGone(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 5822, Level = LogLevel.Warning, Message = "Node {NodeId} fell behind on log subscriptions; its listener is cut off and must listen again")]
    private static partial void LogListenerTooSlow(ILogger logger, string nodeId);
}
