namespace Shoal.Raft.Core;

/// <summary>
/// Settings of one Raft member's core. Times are in ticks of the driver's clock (DESIGN §13: a tick is 100 ms,
/// elections after 10–20 ticks). Randomness is a parameter so that a simulation can replay a run from its seed.
/// </summary>
public sealed record RaftCoreOptions
{
    /// <summary>This member's Raft ID (not 0).</summary>
    public required ulong Id { get; init; }

    /// <summary>Ticks without a leader before an election; the actual timeout is random in [this, 2 × this).</summary>
    public int ElectionTick { get; init; } = 10;

    /// <summary>Ticks between a leader's heartbeats; must be less than <see cref="ElectionTick"/>.</summary>
    public int HeartbeatTick { get; init; } = 1;

    /// <summary>Appends in flight to one follower before the leader waits for acknowledgements.</summary>
    public int MaxInflightMessages { get; init; } = 256;

    /// <summary>Bytes of entries in one append (at least one entry is always sent).</summary>
    public long MaxSizePerMessage { get; init; } = 1024 * 1024;

    /// <summary>Bytes of committed entries handed to the application in one <see cref="Ready"/> (at least one).</summary>
    public long MaxCommittedSizePerReady { get; init; } = 16 * 1024 * 1024;

    /// <summary>
    /// Run a pre-vote before an election: a member that cannot win (partitioned, or behind) does not raise the term
    /// and so does not disrupt a healthy leader when it comes back.
    /// </summary>
    public bool PreVote { get; init; } = true;

    /// <summary>
    /// A leader that has not heard from a quorum within an election timeout steps down, and members that hear from a
    /// leader ignore vote requests for that long (leader stickiness).
    /// </summary>
    public bool CheckQuorum { get; init; } = true;

    /// <summary>The randomness of election timeouts.</summary>
    public Random Random { get; init; } = Random.Shared;

    /// <summary>Throws when the settings cannot work.</summary>
    public void Validate()
    {
        if (Id == 0)
        {
            throw new ArgumentException("the Raft ID must not be 0", nameof(Id));
        }

        if (HeartbeatTick <= 0)
        {
            throw new ArgumentException($"the heartbeat tick must be positive, got {HeartbeatTick}", nameof(HeartbeatTick));
        }

        if (ElectionTick <= HeartbeatTick)
        {
            throw new ArgumentException($"the election tick ({ElectionTick}) must be greater than the heartbeat tick ({HeartbeatTick})", nameof(ElectionTick));
        }

        if (MaxInflightMessages <= 0)
        {
            throw new ArgumentException($"the inflight window must be positive, got {MaxInflightMessages}", nameof(MaxInflightMessages));
        }

        if (MaxSizePerMessage <= 0 || MaxCommittedSizePerReady <= 0)
        {
            throw new ArgumentException("message and ready sizes must be positive");
        }
    }
}
