using Microsoft.Extensions.Logging;

namespace Shoal.Manager.Dispatcher;

public sealed partial class Dispatcher
{
    [LoggerMessage(EventId = 5100, Level = LogLevel.Information, Message = "Dispatcher started: {Unknown} nodes are UNKNOWN until they register again; heartbeat period {PeriodMs} ms ({Source}; changes are followed live)")]
    private static partial void LogStarted(ILogger logger, int unknown, double periodMs, string source);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "Dispatcher stopped")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(EventId = 5110, Level = LogLevel.Debug, Message = "Node {NodeId} registered session {SessionId} from {Address} (previous session {PreviousSessionId})")]
    private static partial void LogRegistered(ILogger logger, string nodeId, string sessionId, string address, string previousSessionId);

    [LoggerMessage(EventId = 5111, Level = LogLevel.Warning, Message = "Node {NodeId} refused: {Count} registrations within {WindowSeconds} s")]
    private static partial void LogRateLimited(ILogger logger, string nodeId, int count, double windowSeconds);

    [LoggerMessage(EventId = 5112, Level = LogLevel.Warning, Message = "Node {NodeId} missed its heartbeats; session {SessionId} ended and the node is marked DOWN")]
    private static partial void LogHeartbeatMissed(ILogger logger, string nodeId, string sessionId);

    [LoggerMessage(EventId = 5113, Level = LogLevel.Warning, Message = "Node {NodeId} did not register again within the grace after the leader change; it is marked DOWN")]
    private static partial void LogGraceOver(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 5114, Level = LogLevel.Information, Message = "Nodes are still registering again {ElapsedSeconds:0} s after the leader change ({Waiting} UNKNOWN): their grace is extended while they come back, up to {MaxSeconds:0} s")]
    private static partial void LogGraceExtended(ILogger logger, double elapsedSeconds, int waiting, double maxSeconds);

    [LoggerMessage(EventId = 5120, Level = LogLevel.Debug, Message = "Wrote {Count} node status changes in {Commits} transactions")]
    private static partial void LogNodeWrites(ILogger logger, int count, int commits);

    [LoggerMessage(EventId = 5121, Level = LogLevel.Debug, Message = "Applied {Applied} of {Count} task status updates in {Commits} transactions")]
    private static partial void LogStatusWrites(ILogger logger, int count, int applied, int commits);
}
