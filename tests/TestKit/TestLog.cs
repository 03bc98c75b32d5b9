using Microsoft.Extensions.Logging;

namespace Shoal.TestKit;

/// <summary>
/// Logs of the components under test, to stderr, when the environment variable SHOAL_TEST_LOG is set (to debug a
/// failing test); otherwise nothing.
/// </summary>
public static class TestLog
{
    /// <summary>A factory that writes to stderr when SHOAL_TEST_LOG is set, and drops everything otherwise.</summary>
    public static ILoggerFactory Factory { get; } = Environment.GetEnvironmentVariable("SHOAL_TEST_LOG") is { Length: > 0 }
        ? new StderrLoggerFactory()
        : Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;

    private sealed class StderrLoggerFactory : ILoggerFactory
    {
        public void AddProvider(ILoggerProvider provider)
        {
        }

        public ILogger CreateLogger(string categoryName) => new StderrLogger(categoryName);

        public void Dispose()
        {
        }
    }

    private sealed class StderrLogger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Console.Error.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel,-11} {category}: {formatter(state, exception)}{(exception is null ? string.Empty : " | " + exception.Message)}");
    }
}
