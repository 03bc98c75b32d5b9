using Microsoft.Extensions.Logging;

namespace Shoal.Manager.Scheduler;

// Event ids 5400–5499: the scheduler.
public sealed partial class Scheduler
{
    [LoggerMessage(EventId = 5400, Level = LogLevel.Information, Message = "Scheduler started: {Nodes} nodes, {Pending} tasks waiting for a node")]
    private static partial void LogStarted(ILogger logger, int nodes, int pending);

    [LoggerMessage(EventId = 5401, Level = LogLevel.Information, Message = "Scheduler stopped")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(EventId = 5410, Level = LogLevel.Debug, Message = "Scheduling pass: {Tasks} tasks in {Groups} groups over {Nodes} nodes; {Assigned} assigned, {Unschedulable} explanations written, {Conflicts} conflicts; {Commits} transactions in {ElapsedMs:0.#} ms")]
    private static partial void LogPass(ILogger logger, int tasks, int groups, int nodes, int assigned, int unschedulable, int conflicts, int commits, double elapsedMs);

    [LoggerMessage(EventId = 5411, Level = LogLevel.Information, Message = "Assigned {Count} tasks to nodes in {Passes} scheduling passes")]
    private static partial void LogAssigned(ILogger logger, int count, int passes);
}
