using Microsoft.Extensions.Logging;

namespace Shoal.Manager.Allocator;

// Event ids 5500–5599: the allocator.
public sealed partial class Allocator
{
    [LoggerMessage(EventId = 5500, Level = LogLevel.Information, Message = "Allocator started: {Services} services, {Ports} published ports reserved, {New} new tasks")]
    private static partial void LogStarted(ILogger logger, int services, int ports, int @new);

    [LoggerMessage(EventId = 5501, Level = LogLevel.Information, Message = "Allocator stopped")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(EventId = 5510, Level = LogLevel.Debug, Message = "Allocation pass: {Services} services allocated, {Failed} refused, {Tasks} tasks to PENDING, {Skipped} skipped (changed meanwhile); {Commits} transactions")]
    private static partial void LogPass(ILogger logger, int services, int failed, int tasks, int skipped, int commits);

    [LoggerMessage(EventId = 5520, Level = LogLevel.Error, Message = "Cannot allocate the published ports of service {ServiceName} ({ServiceId}): {Error}; its tasks stay NEW until a service is updated or removed")]
    private static partial void LogServiceRefused(ILogger logger, string serviceName, string serviceId, string error);

    [LoggerMessage(EventId = 5521, Level = LogLevel.Error, Message = "Service {ServiceName} ({ServiceId}) holds a published port that another service holds too: {Error}; it will be allocated again")]
    private static partial void LogRestoreConflict(ILogger logger, string serviceName, string serviceId, string error);
}
