namespace Shoal.Agent;

/// <summary>Node-local settings of the agent's session with the managers.</summary>
public sealed record AgentOptions
{
    /// <summary>Managers to try first (host:port), typically the join address; replaced by every non-empty manager
    /// list the dispatcher sends.</summary>
    public IReadOnlyList<string> Managers { get; init; } = [];

    /// <summary>The first delay before reconnecting after a failure; it doubles up to <see cref="MaxBackoff"/>.</summary>
    /// <value>100 ms.</value>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest delay between reconnection attempts.</summary>
    /// <value>8 s.</value>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>How long a heartbeat may take before the session is given up.</summary>
    /// <value>5 s.</value>
    public TimeSpan HeartbeatTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Status updates sent in one <c>UpdateTaskStatus</c> call at most.</summary>
    /// <value>1,024.</value>
    public int MaxStatusUpdatesPerCall { get; init; } = 1024;

    /// <summary>Throws when a value makes no sense.</summary>
    public void Validate()
    {
        if (Managers.Count == 0)
        {
            throw new ArgumentException("the agent needs at least one manager address to start from (the join address)", nameof(Managers));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(InitialBackoff, TimeSpan.Zero, nameof(InitialBackoff));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBackoff, InitialBackoff, nameof(MaxBackoff));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(HeartbeatTimeout, TimeSpan.Zero, nameof(HeartbeatTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxStatusUpdatesPerCall, 1, nameof(MaxStatusUpdatesPerCall));
    }
}
