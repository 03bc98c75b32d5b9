using Microsoft.Extensions.Logging;

namespace Shoal.Manager.Orchestrator;

// Event ids 5600–5699: the orchestrators (replicated, global, restart supervisor, constraint enforcer, task reaper).
internal static partial class OrchestratorLog
{
    [LoggerMessage(EventId = 5600, Level = LogLevel.Information, Message = "{Component} started: {Services} services, {Nodes} nodes, {Tasks} tasks")]
    public static partial void Started(ILogger logger, string component, int services, int nodes, int tasks);

    [LoggerMessage(EventId = 5601, Level = LogLevel.Information, Message = "{Component} stopped")]
    public static partial void Stopped(ILogger logger, string component);

    [LoggerMessage(EventId = 5602, Level = LogLevel.Information, Message = "Restart supervisor started: {Waiting} replacements waiting for their restart delay")]
    public static partial void RestartSupervisorStarted(ILogger logger, int waiting);

    [LoggerMessage(EventId = 5610, Level = LogLevel.Debug, Message = "{Component} pass over {Items} services/nodes: {Created} tasks created, {Raised} desired states raised, {Deleted} tasks deleted in {Commits} transactions")]
    public static partial void Pass(ILogger logger, string component, int items, int created, int raised, int deleted, int commits);

    [LoggerMessage(EventId = 5611, Level = LogLevel.Debug, Message = "Restart supervisor started {Count} delayed replacements in {Commits} transactions")]
    public static partial void Promoted(ILogger logger, int count, int commits);

    [LoggerMessage(EventId = 5620, Level = LogLevel.Error, Message = "{Component} failed; it starts again in {BackoffMs} ms")]
    public static partial void LoopFailed(ILogger logger, Exception exception, string component, double backoffMs);
}
