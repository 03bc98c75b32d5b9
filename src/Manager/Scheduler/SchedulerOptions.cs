namespace Shoal.Manager.Scheduler;

/// <summary>The scheduler's batching of passes (DESIGN §8, §13): SwarmKit's commit debounce.</summary>
public sealed record SchedulerOptions
{
    /// <summary>A pass runs once the store has been quiet this long after a relevant commit.</summary>
    /// <value>50 ms.</value>
    public TimeSpan CommitDebounceGap { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>A pass runs at most this long after the first relevant commit, however busy the store is.</summary>
    /// <value>1 s.</value>
    public TimeSpan MaxLatency { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Shortest time between two Information summaries of assignments; other passes log at Debug only.</summary>
    /// <value>10 s.</value>
    public TimeSpan SummaryInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws when a value makes no sense.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(CommitDebounceGap, TimeSpan.Zero, nameof(CommitDebounceGap));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLatency, CommitDebounceGap, nameof(MaxLatency));
        ArgumentOutOfRangeException.ThrowIfLessThan(SummaryInterval, TimeSpan.Zero, nameof(SummaryInterval));
    }
}
