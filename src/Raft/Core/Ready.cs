using Google.Protobuf;
using Shoal.Api;

namespace Shoal.Raft.Core;

/// <summary>A member's role in its term.</summary>
public enum RaftRole
{
    /// <summary>Follows a leader (or waits for one).</summary>
    Follower,

    /// <summary>Asks whether it could win before raising the term.</summary>
    PreCandidate,

    /// <summary>Asks for votes in a new term.</summary>
    Candidate,

    /// <summary>Leads its term.</summary>
    Leader,
}

/// <summary>Volatile state the driver reacts to: who leads, and this member's role.</summary>
public readonly record struct SoftState(ulong Lead, RaftRole Role);

/// <summary>A linearizable read may be served once the state machine has applied <see cref="Index"/>.</summary>
public readonly record struct ReadState(ulong Index, ByteString Context);

/// <summary>
/// What the core asks of its driver, in this order: persist <see cref="HardState"/>, <see cref="Entries"/> and
/// <see cref="Snapshot"/> (one fsync); then send <see cref="Messages"/>; then apply <see cref="Snapshot"/> and
/// <see cref="CommittedEntries"/>; then call <see cref="RaftCore.Advance"/>.
/// </summary>
public sealed class Ready
{
    /// <summary>Set when the leader or the role changed.</summary>
    public SoftState? SoftState { get; init; }

    /// <summary>Set when term, vote or commit changed: persist it.</summary>
    public RaftHardState? HardState { get; init; }

    /// <summary>Entries to persist before sending the messages.</summary>
    public IReadOnlyList<RaftEntry> Entries { get; init; } = [];

    /// <summary>A snapshot from the leader to persist and apply.</summary>
    public RaftSnapshot? Snapshot { get; init; }

    /// <summary>Entries committed by a quorum, to apply in order.</summary>
    public IReadOnlyList<RaftEntry> CommittedEntries { get; init; } = [];

    /// <summary>Messages to send once the entries and hard state are persisted.</summary>
    public IReadOnlyList<RaftMessage> Messages { get; init; } = [];

    /// <summary>Reads confirmed by a quorum.</summary>
    public IReadOnlyList<ReadState> ReadStates { get; init; } = [];

    /// <summary>Whether persisting this Ready needs an fsync (new entries, or a new term or vote).</summary>
    public bool MustSync { get; init; }
}
