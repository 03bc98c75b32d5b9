using Shoal.Api;
using Shoal.Raft.Storage;

namespace Shoal.Raft;

/// <summary>Settings of one manager's Raft member (DESIGN §13 defaults).</summary>
public sealed record RaftNodeOptions
{
    /// <summary>Where the WAL (<c>wal/</c>) and snapshots (<c>snap/</c>) live: <c>&lt;data-dir&gt;/raft</c>.</summary>
    public required string Directory { get; init; }

    /// <summary>This member as others reach it.</summary>
    public required RaftMember Self { get; init; }

    /// <summary>Length of one logical tick.</summary>
    public TimeSpan TickInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Ticks before an election (randomized up to twice this).</summary>
    public int ElectionTick { get; init; } = 10;

    /// <summary>Ticks between heartbeats.</summary>
    public int HeartbeatTick { get; init; } = 1;

    /// <summary>Applied entries between snapshots.</summary>
    public ulong SnapshotInterval { get; init; } = 10_000;

    /// <summary>Entries kept behind a snapshot for followers that lag a little.</summary>
    public ulong LogEntriesForSlowFollowers { get; init; } = 500;

    /// <summary>Snapshot files kept.</summary>
    public int KeepSnapshots { get; init; } = 2;

    /// <summary>WAL segment size.</summary>
    public long SegmentSize { get; init; } = 64L * 1024 * 1024;

    /// <summary>The WAL's payload protection (autolock plugs in here).</summary>
    public IPayloadProtector Protector { get; init; } = NoProtection.Instance;

    /// <summary>Whether to fsync (only tests of the core logic turn it off).</summary>
    public bool Fsync { get; init; } = true;

    /// <summary>The clock of ticks and timeouts.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Randomness of election timeouts.</summary>
    public Random Random { get; init; } = Random.Shared;
}

/// <summary>
/// The replicated application (the manager's store): it applies committed entries in log order and can save and
/// restore its whole state.
/// </summary>
public interface IRaftStateMachine
{
    /// <summary>Applies a committed normal entry nobody on this member waits for.</summary>
    void Apply(ulong index, ReadOnlyMemory<byte> data);

    /// <summary>
    /// Captures the applied state now (cheaply, on the driver's thread) and returns a function that serializes the
    /// capture, which the driver runs off its thread.
    /// </summary>
    Func<byte[]> CaptureSnapshot();

    /// <summary>Replaces the whole state with a snapshot's.</summary>
    void Restore(ReadOnlyMemory<byte> data, ulong index);
}

/// <summary>
/// A proposal this member will not see committed through its own leadership (leadership was lost, or the entry was
/// replaced by a new leader's). The write may still commit through the new leader: the caller must not assume
/// either outcome, and should re-read before retrying.
/// </summary>
public sealed class LeadershipLostException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LeadershipLostException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public LeadershipLostException()
        : base("leadership was lost before the proposal was committed; it may or may not commit under the new leader")
    {
    }

    /// <summary>Creates the exception.</summary>
    public LeadershipLostException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The Raft member stopped on its own after it failed to persist (disk full, I/O error): the request was not carried
/// out. The manager restarts the member from its files; retry once it has (the cause named in the message fixed).
/// </summary>
public sealed class RaftStoppedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public RaftStoppedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RaftStoppedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RaftStoppedException()
        : base("the Raft member stopped after a storage failure; the request was not carried out")
    {
    }
}

/// <summary>A leadership change, as the manager sees it to start or stop its leader-only components.</summary>
public readonly record struct LeadershipChange(bool IsLeader, ulong Leader, ulong Term);
