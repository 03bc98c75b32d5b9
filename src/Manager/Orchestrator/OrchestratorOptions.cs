namespace Shoal.Manager.Orchestrator;

/// <summary>Timing of the orchestrators (DESIGN §8, §13). The restart policy itself is per service, in its task spec;
/// the task history limit is cluster-wide, in <c>ClusterSpec.orchestration</c>.</summary>
public sealed record OrchestratorOptions
{
    /// <summary>A pass runs once the store has been quiet this long after a relevant commit.</summary>
    /// <value>50 ms (the scheduler's gap).</value>
    public TimeSpan CommitDebounceGap { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>A pass runs at most this long after the first relevant commit, however busy the store is.</summary>
    /// <value>1 s.</value>
    public TimeSpan MaxLatency { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The task reaper's quiet gap: deleting history is never urgent.</summary>
    /// <value>250 ms (SwarmKit's reaper).</value>
    public TimeSpan ReaperDebounceGap { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A delayed replacement starts after its restart delay once the task it replaces has stopped, or at the
    /// latest this long after the delay (the old task's node may never report).</summary>
    /// <value>1 min (SwarmKit's old-task timeout).</value>
    public TimeSpan OldTaskTimeout { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>First wait before a control loop that threw is started again; doubles up to
    /// <see cref="MaxRestartBackoff"/>.</summary>
    /// <value>1 s.</value>
    public TimeSpan RestartBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait before a failing control loop is started again.</summary>
    /// <value>30 s.</value>
    public TimeSpan MaxRestartBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws when a value makes no sense.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(CommitDebounceGap, TimeSpan.Zero, nameof(CommitDebounceGap));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLatency, CommitDebounceGap, nameof(MaxLatency));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReaperDebounceGap, TimeSpan.Zero, nameof(ReaperDebounceGap));
        ArgumentOutOfRangeException.ThrowIfLessThan(OldTaskTimeout, TimeSpan.Zero, nameof(OldTaskTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RestartBackoff, TimeSpan.Zero, nameof(RestartBackoff));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRestartBackoff, RestartBackoff, nameof(MaxRestartBackoff));
    }
}
