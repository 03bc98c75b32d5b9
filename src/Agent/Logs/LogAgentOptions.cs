namespace Shoal.Agent.Logs;

/// <summary>Node-local settings of the agent's log publishing (<see cref="LogAgent"/>).</summary>
public sealed record LogAgentOptions
{
    /// <summary>How often followed log files are checked for new lines.</summary>
    /// <value>250 ms.</value>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Lines sent in one <c>PublishLogs</c> call at most.</summary>
    /// <value>1,000.</value>
    public int MaxLinesPerPublish { get; init; } = 1000;

    /// <summary>Bytes of log data sent in one <c>PublishLogs</c> call at most (a batch closes once it reaches this).</summary>
    /// <value>256 KiB.</value>
    public int MaxBytesPerPublish { get; init; } = 256 * 1024;

    /// <summary>The first delay before listening again after a failure; it doubles up to <see cref="MaxBackoff"/>.</summary>
    /// <value>100 ms.</value>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest delay between attempts to listen.</summary>
    /// <value>5 s.</value>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Throws when a value makes no sense.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PollInterval, TimeSpan.Zero, nameof(PollInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLinesPerPublish, 1, nameof(MaxLinesPerPublish));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBytesPerPublish, 1, nameof(MaxBytesPerPublish));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(InitialBackoff, TimeSpan.Zero, nameof(InitialBackoff));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBackoff, InitialBackoff, nameof(MaxBackoff));
    }
}
