using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Shoal.Raft.Tests.Storage;

/// <summary>Every log line written through it, with its level, event id and message.</summary>
internal sealed class LogCapture : ILogger
{
    private readonly ConcurrentQueue<(LogLevel Level, int EventId, string Message)> _lines = new();

    public IReadOnlyCollection<(LogLevel Level, int EventId, string Message)> Lines => _lines;

    public IEnumerable<string> Warnings => _lines.Where(l => l.Level == LogLevel.Warning).Select(l => l.Message);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        => _lines.Enqueue((logLevel, eventId.Id, formatter(state, exception)));
}
