using Microsoft.Extensions.Logging;
using Shoal.Api;

namespace Shoal.Manager.Orchestrator.Update;

// Event ids 5650–5669: the update supervisor (within the orchestrators' range 5600–5699).
internal static partial class UpdateLog
{
    [LoggerMessage(EventId = 5650, Level = LogLevel.Information, Message = "Update supervisor started: {Services} services, {InProgress} updates in progress")]
    public static partial void Started(ILogger logger, int services, int inProgress);

    [LoggerMessage(EventId = 5651, Level = LogLevel.Information, Message = "Service {ServiceId} ({Name}): update of {Slots} tasks started ({State})")]
    public static partial void UpdateStarted(ILogger logger, string serviceId, string? name, int slots, UpdateState state);

    [LoggerMessage(EventId = 5652, Level = LogLevel.Information, Message = "Service {ServiceId} ({Name}): {State}: {Message}")]
    public static partial void StatusChanged(ILogger logger, string serviceId, string? name, UpdateState state, string message);

    [LoggerMessage(EventId = 5653, Level = LogLevel.Debug, Message = "Service {ServiceId}: replacing {Slots} tasks ({Order}); {Remaining} left after this batch")]
    public static partial void Batch(ILogger logger, string serviceId, int slots, UpdateOrder order, int remaining);

    [LoggerMessage(EventId = 5654, Level = LogLevel.Debug, Message = "Update supervisor pass over {Services} services: {Writes} writes in {Commits} transactions")]
    public static partial void Pass(ILogger logger, int services, int writes, int commits);
}
